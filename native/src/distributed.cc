// Process groups over libtorch's c10d (architecture decision 11): a TCPStore rendezvous with
// torchrun's variables, ProcessGroupGloo collectives, and a heartbeat through the store so that a
// rank that dies is named within seconds instead of a hang. Every blocking call (rendezvous, the wait
// for a collective) runs on libuv's thread pool and answers a Promise: the event loop keeps turning.
#include "compat.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if __has_include(<gloo/algorithm.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define REFINERY_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
// NCCL for CUDA tensors: compiled only against a CUDA libtorch whose libtorch_cuda has
// ProcessGroupNCCL, with nccl.h and the CUDA headers found (native/config.js defines REFINERY_NCCL)
#if defined(REFINERY_NCCL) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#include <ATen/Context.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define REFINERY_HAS_NCCL 1
#endif
#endif

namespace refinery {

#ifdef REFINERY_GLOO
namespace {

using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

std::string first_line(const std::string& s) {
  size_t n = s.find('\n');
  return n == std::string::npos ? s : s.substr(0, n);
}

std::string seconds(ms t) {
  std::ostringstream o;
  o << static_cast<double>(t.count()) / 1000.0 << " s";
  return o.str();
}

struct Group {
  int rank = 0, size = 1;
  std::string addr;
  int port = 0;
  ms timeout{60000}, heartbeat{5000};
  c10::intrusive_ptr<c10d::Store> store;    // the group's keys (a PrefixStore over the TCPStore)
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;   // CPU tensors (and barriers)
#ifdef REFINERY_HAS_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // CUDA tensors, when this machine has a GPU
#endif
  bool has_nccl() const {
#ifdef REFINERY_HAS_NCCL
    return static_cast<bool>(nccl);
#else
    return false;
#endif
  }
  // heartbeat: each rank bumps hb/<rank> several times per heartbeat period; a rank whose counter
  // stands still for a whole period (and that has not said done/<rank>) is reported dead
  std::thread hb_thread;
  std::atomic<bool> stop{false};
  std::atomic<int> dead{-1};
  std::mutex why_mutex;
  std::string why;        // why `dead` was set
  std::string broken;     // set after a failed collective: the group cannot be used again
  std::mutex broken_mutex;

  std::string where() const { return addr + ":" + std::to_string(port); }

  void mark_dead(int r, const std::string& reason) {
    std::lock_guard<std::mutex> lock(why_mutex);
    if (dead.load() >= 0) return;
    why = reason;
    dead.store(r);
  }
  std::string dead_reason() {
    std::lock_guard<std::mutex> lock(why_mutex);
    return why;
  }
  std::string broken_reason() {
    std::lock_guard<std::mutex> lock(broken_mutex);
    return broken;
  }
  void set_broken(const std::string& s) {
    std::lock_guard<std::mutex> lock(broken_mutex);
    if (broken.empty()) broken = s;
  }
  ~Group() {
    stop.store(true);
    if (hb_thread.joinable()) hb_thread.join();
  }
};

std::mutex g_groups_mutex;
std::map<int, std::shared_ptr<Group>> g_groups;
int g_next_group = 1;
// The n-th group a rank makes against a store gets the keys refinery/<n>/...: the same on every rank
// when they make their groups in the same order (per rank, so that tests can run ranks in one process).
std::map<std::string, int> g_generation;

std::shared_ptr<Group> group_of(const Napi::CallbackInfo& info, size_t i) {
  int64_t id = arg_int(info, i);
  std::lock_guard<std::mutex> lock(g_groups_mutex);
  auto it = g_groups.find(static_cast<int>(id));
  if (it == g_groups.end()) throw Napi::Error::New(info.Env(), "distributed: the process group was destroyed (or never made)");
  return it->second;
}

void heartbeat_loop(Group* g, c10::intrusive_ptr<c10d::Store> hb) {
  const std::string mine = "hb/" + std::to_string(g->rank);
  std::vector<int64_t> last(g->size, -1);
  std::vector<Clock::time_point> changed(g->size, Clock::now());
  const ms tick = std::max(ms(20), g->heartbeat / 5);
  while (!g->stop.load()) {
    try {
      hb->add(mine, 1);
      auto now = Clock::now();
      for (int r = 0; r < g->size; r++) {
        if (r == g->rank) continue;
        int64_t v = hb->add("hb/" + std::to_string(r), 0);
        if (v != last[r]) {
          last[r] = v;
          changed[r] = now;
        } else if (now - changed[r] > g->heartbeat && hb->add("done/" + std::to_string(r), 0) == 0) {
          g->mark_dead(r, "rank " + std::to_string(r) + " stopped responding (no heartbeat for " + seconds(g->heartbeat) +
                              "): it died, was killed or hangs");
        }
      }
    } catch (const std::exception& e) {
      if (g->stop.load()) break;
      if (g->rank != 0) {
        g->mark_dead(0, "rank 0 is gone: the rendezvous store it hosts at " + g->where() + " closed (" + first_line(e.what()) + ")");
      } else {
        g->mark_dead(-2, std::string("the rendezvous store failed: ") + first_line(e.what()));
      }
      break;
    }
    std::this_thread::sleep_for(tick);
  }
}

// A Promise settled from libuv's thread pool.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void OnOK() override { deferred_.Resolve(Result(Env())); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }
  virtual Napi::Value Result(Napi::Env env) { return env.Undefined(); }
  Napi::Promise::Deferred deferred_;
};

class InitWorker : public PromiseWorker {
 public:
  InitWorker(Napi::Env env, std::shared_ptr<Group> g, int id, int generation)
      : PromiseWorker(env), g_(std::move(g)), id_(id), generation_(generation) {}

  void Execute() override {
    Group& g = *g_;
    const std::string who = "rank " + std::to_string(g.rank) + " of " + std::to_string(g.size);
    c10::intrusive_ptr<c10d::Store> tcp;
    try {
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(g.port);
      o.isServer = g.rank == 0;
      o.numWorkers = static_cast<size_t>(g.size);
      o.waitWorkers = false;
      o.timeout = g.timeout;
      tcp = c10::make_intrusive<c10d::TCPStore>(g.addr, o);
    } catch (const std::exception& e) {
      if (g.rank == 0) {
        SetError("distributed: " + who + " could not host the rendezvous store on " + g.where() +
                 " (is the port in use, or MASTER_ADDR not an address of this machine?): " + first_line(e.what()));
      } else {
        SetError("distributed: " + who + " could not reach the rendezvous store at MASTER_ADDR:MASTER_PORT = " + g.where() +
                 " within " + seconds(g.timeout) + " (is rank 0 running, with the same MASTER_ADDR and MASTER_PORT?): " +
                 first_line(e.what()));
      }
      return;
    }
    try {
      // groups made in the same order on every rank share a prefix
      auto store = c10::make_intrusive<c10d::PrefixStore>("refinery/" + std::to_string(generation_), tcp);
      store->set("join/" + std::to_string(g.rank), std::vector<uint8_t>{1});
      std::vector<std::string> keys;
      for (int r = 0; r < g.size; r++) keys.push_back("join/" + std::to_string(r));
      auto deadline = Clock::now() + g.timeout;
      for (;;) {
        std::vector<int> missing;
        for (int r = 0; r < g.size; r++)
          if (!store->check({keys[r]})) missing.push_back(r);
        if (missing.empty()) break;
        if (Clock::now() >= deadline) {
          std::ostringstream m;
          m << "distributed: " << who << ": rank" << (missing.size() > 1 ? "s " : " ");
          for (size_t i = 0; i < missing.size(); i++) m << (i ? ", " : "") << missing[i];
          m << " did not join within " << seconds(g.timeout) << " (store " << g.where()
            << "; is WORLD_SIZE=" << g.size << " right, and did every rank start?)";
          SetError(m.str());
          return;
        }
        std::this_thread::sleep_for(ms(20));
      }
      auto opts = c10d::ProcessGroupGloo::Options::create(g.timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname && *ifname) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (g.addr.rfind("127.", 0) == 0 || g.addr == "localhost") {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      opts->threads = 2;
      g.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store), g.rank, g.size, opts);
#ifdef REFINERY_HAS_NCCL
      // made on every rank alike (the communicators themselves are made at the first CUDA collective)
      if (at::hasCUDA()) g.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store), g.rank, g.size);
#endif
      g.store = store;
      // heartbeats go over a connection of their own, so they never queue behind a blocking get
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(g.port);
      o.isServer = false;
      o.waitWorkers = false;
      o.timeout = g.heartbeat;
      auto hb = c10::make_intrusive<c10d::PrefixStore>("refinery/" + std::to_string(generation_), c10::make_intrusive<c10d::TCPStore>(g.addr, o));
      hb->add("hb/" + std::to_string(g.rank), 1);
      g.hb_thread = std::thread(heartbeat_loop, g_.get(), hb);
    } catch (const std::exception& e) {
      SetError("distributed: " + who + ": setting up the Gloo process group failed: " + first_line(e.what()));
    }
  }

  Napi::Value Result(Napi::Env env) override { return Napi::Number::New(env, id_); }

  void OnError(const Napi::Error& e) override {
    {
      std::lock_guard<std::mutex> lock(g_groups_mutex);
      g_groups.erase(id_);
    }
    PromiseWorker::OnError(e);
  }

 private:
  std::shared_ptr<Group> g_;
  int id_, generation_;
};

// Waits for c10d works, failing early when the heartbeat names a dead rank.
void wait_works(Group& g, const std::vector<c10::intrusive_ptr<c10d::Work>>& works, const char* what) {
  auto deadline = Clock::now() + g.timeout;
  for (const auto& w : works) {
    for (;;) {
      try {
        w->wait(ms(100));
        break;
      } catch (const std::exception& e) {
        if (!w->isCompleted()) {  // our slice ran out: the work is still running
          if (g.dead.load() != -1) {
            std::string m = std::string("distributed: ") + what + " on rank " + std::to_string(g.rank) + " stopped: " + g.dead_reason();
            g.set_broken(g.dead_reason());
            throw std::runtime_error(m);
          }
          if (Clock::now() < deadline) continue;
          std::string m = std::string("distributed: ") + what + " on rank " + std::to_string(g.rank) + " timed out after " +
                          seconds(g.timeout) + " (a rank did not reach the same collective: do all ranks run the same steps?)";
          g.set_broken(m);
          throw std::runtime_error(m);
        }
        // it completed between our slice running out and the check above: done
        if (!w->exception()) break;
        // the work failed (a peer's connection closed, Gloo's own timeout): give the heartbeat a
        // period to say which rank went away
        std::string err = first_line(e.what());
        auto until = Clock::now() + g.heartbeat + ms(500);
        while (g.dead.load() == -1 && Clock::now() < until) std::this_thread::sleep_for(ms(20));
        std::string m = std::string("distributed: ") + what + " on rank " + std::to_string(g.rank) + " failed: " +
                        (g.dead.load() != -1 ? g.dead_reason() + " (Gloo: " + err + ")" : err);
        g.set_broken(g.dead.load() != -1 ? g.dead_reason() : err);
        throw std::runtime_error(m);
      }
    }
  }
}

void check_usable(const Napi::Env& env, Group& g, const char* what) {
  std::string b = g.broken_reason();
  if (!b.empty()) throw Napi::Error::New(env, std::string("distributed: ") + what + ": the process group is unusable after an earlier failure (" + b + ")");
}

// The backend for tensors on `d`: NCCL for CUDA tensors where the build and the machine have it, else Gloo.
template <class F>
c10::intrusive_ptr<c10d::Work> on_backend(Group& g, const at::Device& d, F&& f) {
#ifdef REFINERY_HAS_NCCL
  if (d.is_cuda()) {
    if (!g.nccl) throw std::runtime_error("distributed: a " + d.str() + " tensor, but the NCCL process group was not made (no CUDA device when the group was made)");
    return f(*g.nccl);
  }
#endif
  return f(*g.pg);
}

// Whether the group takes tensors on `d`: CPU tensors always (Gloo), CUDA ones through NCCL.
bool takes_device(const Group& g, const at::Device& d) {
  return d.is_cpu() || (d.is_cuda() && g.has_nccl());
}

std::string device_refusal(const Group& g, const std::string& what, const at::Device& d) {
  std::string why = d.is_cuda() ? (g.has_nccl() ? "" : "; CUDA tensors need NCCL, which this build (or this machine) lacks: build against a CUDA libtorch with NCCL")
                                : "; the process group takes CPU tensors (Gloo) and, with NCCL, CUDA tensors";
  return what + " is on " + d.str() + why;
}

// Tensors in buckets of at most `cap` bytes, one dtype (and device) per bucket, in the given order.
std::vector<std::vector<size_t>> buckets_of(const std::vector<at::Tensor>& ts, int64_t cap) {
  std::vector<std::vector<size_t>> out;
  int64_t bytes = 0;
  for (size_t i = 0; i < ts.size(); i++) {
    int64_t b = ts[i].numel() * static_cast<int64_t>(ts[i].element_size());
    bool fresh = out.empty() || bytes + b > cap || ts[out.back()[0]].scalar_type() != ts[i].scalar_type() ||
                 ts[out.back()[0]].device() != ts[i].device();
    if (fresh) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(i);
    bytes += b;
  }
  return out;
}

// One flat tensor per bucket (the tensor itself when the bucket is one contiguous tensor).
at::Tensor flatten(const std::vector<at::Tensor>& ts, const std::vector<size_t>& idx) {
  if (idx.size() == 1 && ts[idx[0]].is_contiguous()) return ts[idx[0]];
  std::vector<at::Tensor> views;
  for (size_t i : idx) views.push_back(ts[i].reshape({-1}));
  return at::cat(views);
}

void unflatten(const at::Tensor& flat, const std::vector<at::Tensor>& ts, const std::vector<size_t>& idx) {
  if (idx.size() == 1 && flat.is_same(ts[idx[0]])) return;
  int64_t off = 0;
  for (size_t i : idx) {
    int64_t n = ts[i].numel();
    ts[i].copy_(flat.narrow(0, off, n).view(ts[i].sizes()));
    off += n;
  }
}

enum class Kind { AllReduce, Broadcast, AllGather, Barrier };

class CollectiveWorker : public PromiseWorker {
 public:
  CollectiveWorker(Napi::Env env, std::shared_ptr<Group> g, Kind kind, std::vector<at::Tensor> ts, c10d::ReduceOp op, bool average,
                   int root, int64_t cap)
      : PromiseWorker(env), g_(std::move(g)), kind_(kind), ts_(std::move(ts)), op_(op), average_(average), root_(root), cap_(cap) {}

  void Execute() override {
    try {
      at::NoGradGuard no_grad;
      Group& g = *g_;
      std::vector<c10::intrusive_ptr<c10d::Work>> works;
      if (kind_ == Kind::Barrier) {
        works.push_back(g.pg->barrier(c10d::BarrierOptions()));
        wait_works(g, works, "barrier");
        return;
      }
      if (kind_ == Kind::AllGather) {
        std::vector<at::Tensor> in{ts_[0].contiguous()};
        std::vector<std::vector<at::Tensor>> out(1);
        for (int r = 0; r < g.size; r++) out[0].push_back(at::empty_like(in[0]));
        works.push_back(on_backend(g, in[0].device(), [&](auto& pg) { return pg.allgather(out, in, c10d::AllgatherOptions()); }));
        wait_works(g, works, "allGather");
        gathered_ = out[0];
        return;
      }
      auto buckets = buckets_of(ts_, cap_);
      std::vector<at::Tensor> flats;
      // every bucket is queued before the first wait: Gloo's threads work through them while we wait
      for (const auto& b : buckets) {
        std::vector<at::Tensor> one{flatten(ts_, b)};
        flats.push_back(one[0]);
        if (kind_ == Kind::AllReduce) {
          c10d::AllreduceOptions o;
          o.reduceOp = op_;
          works.push_back(on_backend(g, one[0].device(), [&](auto& pg) { return pg.allreduce(one, o); }));
        } else {
          c10d::BroadcastOptions o;
          o.rootRank = root_;
          works.push_back(on_backend(g, one[0].device(), [&](auto& pg) { return pg.broadcast(one, o); }));
        }
      }
      wait_works(g, works, kind_ == Kind::AllReduce ? "allReduce" : "broadcast");
      for (size_t k = 0; k < buckets.size(); k++) {
        if (average_) flats[k].div_(g.size);
        unflatten(flats[k], ts_, buckets[k]);
      }
    } catch (const std::exception& e) {
      SetError(first_line(e.what()));
    }
  }

  Napi::Value Result(Napi::Env env) override {
    if (kind_ != Kind::AllGather) return env.Undefined();
    Napi::Array a = Napi::Array::New(env, gathered_.size());
    for (size_t i = 0; i < gathered_.size(); i++) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, put_tensor(env, gathered_[i])));
    return a;
  }

 private:
  std::shared_ptr<Group> g_;
  Kind kind_;
  std::vector<at::Tensor> ts_;
  c10d::ReduceOp op_;
  bool average_;
  int root_;
  int64_t cap_;
  std::vector<at::Tensor> gathered_;
};

// ---------------------------------------------------------------- gradient all-reduce overlapped with backward
// DistributedDataParallel's Reducer (torch/csrc/distributed/c10d/reducer.cpp), reduced to what
// train() needs: the parameters are split into buckets in reverse order (the order backward
// produces their gradients); a post-hook on each parameter's gradient accumulator copies the
// accumulated gradient into its bucket's flat buffer, and the moment every gradient of a bucket is
// in, the bucket's all-reduce is queued on Gloo's threads while backward goes on. Buckets are
// launched in index order on every rank (a bucket ready early waits for its predecessors), so that
// the ranks issue the same collectives in the same order. The hooks are C++ and never touch V8, so
// they are safe on whatever thread libtorch's engine runs them (the calling thread for CPU graphs,
// a device thread for CUDA ones). finish() zero-fills the gradients backward did not produce,
// launches the rest, and a thread-pool worker waits, divides by the world size and copies back.
using AccPtr = std::decay_t<decltype(torch::autograd::impl::grad_accumulator(std::declval<const at::Tensor&>()))>;

struct Reducer {
  std::shared_ptr<Group> g;
  std::vector<at::Tensor> params;                  // as given
  std::vector<AccPtr> accs;                        // kept alive: a parameter's accumulator (and its hook) lives as long as this
  std::vector<uintptr_t> hook_keys;
  std::vector<std::vector<size_t>> buckets;        // parameter indices, reverse order
  std::vector<size_t> bucket_of;
  std::vector<int64_t> offset;                     // of each parameter in its bucket's flat buffer
  std::vector<at::Tensor> flat;                    // one per bucket
  std::mutex m;
  bool armed = false;
  std::vector<char> ready;
  std::vector<size_t> pending;                     // per bucket: gradients not yet in
  size_t next = 0;                                 // next bucket to launch
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  int64_t in_backward = 0;                         // buckets launched from hooks in the last step
  std::string error;

  void copy_in(size_t i, const at::Tensor& grad) {
    at::NoGradGuard no_grad;
    const at::Tensor& p = params[i];
    at::Tensor dst = flat[bucket_of[i]].narrow(0, offset[i], p.numel()).view(p.sizes());
    if (grad.defined()) dst.copy_(grad.detach());
    else dst.zero_();
  }

  void launch_ready() {  // under m
    while (next < buckets.size() && pending[next] == 0) {
      std::vector<at::Tensor> one{flat[next]};
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      works.push_back(on_backend(*g, one[0].device(), [&](auto& pg) { return pg.allreduce(one, o); }));
      next++;
    }
  }

  // the hook: gradient i is final for this backward
  void mark_ready(size_t i) {
    std::lock_guard<std::mutex> lock(m);
    if (!armed || !error.empty()) return;
    if (ready[i]) {
      error = "parameter " + std::to_string(i) + " received its gradient twice in one step (two backward passes, or a parameter used in "
              "two graphs): its bucket was already being reduced; use overlapGradients: false for such steps";
      return;
    }
    copy_in(i, params[i].grad());
    ready[i] = 1;
    size_t before = next;
    if (--pending[bucket_of[i]] == 0) launch_ready();
    in_backward += static_cast<int64_t>(next - before);
  }
};

struct ReadyHook : torch::autograd::FunctionPostHook {
  std::weak_ptr<Reducer> r;
  size_t index;
  ReadyHook(std::weak_ptr<Reducer> r, size_t i) : r(std::move(r)), index(i) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) override {
    if (auto s = r.lock()) s->mark_ready(index);
    return outputs;
  }
};

std::mutex g_reducers_mutex;
std::map<int, std::shared_ptr<Reducer>> g_reducers;
int g_next_reducer = 1;

std::shared_ptr<Reducer> reducer_of(const Napi::CallbackInfo& info, size_t i) {
  int64_t id = arg_int(info, i);
  std::lock_guard<std::mutex> lock(g_reducers_mutex);
  auto it = g_reducers.find(static_cast<int>(id));
  if (it == g_reducers.end()) throw Napi::Error::New(info.Env(), "distributed: the gradient reducer was disposed");
  return it->second;
}

// Waits for a step's bucket all-reduces, then averages and writes the gradients back.
class ReduceWorker : public PromiseWorker {
 public:
  ReduceWorker(Napi::Env env, std::shared_ptr<Reducer> r, std::vector<c10::intrusive_ptr<c10d::Work>> works, std::vector<at::Tensor> extra)
      : PromiseWorker(env), r_(std::move(r)), works_(std::move(works)), extra_(std::move(extra)) {}

  void Execute() override {
    try {
      at::NoGradGuard no_grad;
      Reducer& r = *r_;
      wait_works(*r.g, works_, "allReduce");
      const double n = r.g->size;
      for (size_t b = 0; b < r.buckets.size(); b++) {
        r.flat[b].div_(n);
        for (size_t i : r.buckets[b]) {
          at::Tensor grad = r.params[i].grad();
          grad.copy_(r.flat[b].narrow(0, r.offset[i], r.params[i].numel()).view(r.params[i].sizes()));
        }
      }
      for (auto& t : extra_) t.div_(n);
    } catch (const std::exception& e) {
      SetError(first_line(e.what()));
    }
  }

 private:
  std::shared_ptr<Reducer> r_;
  std::vector<c10::intrusive_ptr<c10d::Work>> works_;
  std::vector<at::Tensor> extra_;
};

int64_t checked_int(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  int64_t v = arg_int(info, i);
  if (v < lo || v > hi) {
    throw Napi::RangeError::New(info.Env(), std::string("distributed: ") + name + " must be in [" + std::to_string(lo) + ", " +
                                                std::to_string(hi) + "], got " + std::to_string(v));
  }
  return v;
}

// DistInit(rank, worldSize, addr, port, timeoutMs, heartbeatMs) -> Promise<group id>
Napi::Value DistInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = std::make_shared<Group>();
  g->size = static_cast<int>(checked_int(info, 1, "worldSize", 1, 1 << 20));
  g->rank = static_cast<int>(checked_int(info, 0, "rank", 0, g->size - 1));
  g->addr = arg_string(info, 2);
  g->port = static_cast<int>(checked_int(info, 3, "port", 1, 65535));
  g->timeout = ms(checked_int(info, 4, "timeout (ms)", 1, int64_t(1) << 40));
  g->heartbeat = ms(checked_int(info, 5, "heartbeat (ms)", 50, int64_t(1) << 40));
  int id, generation;
  {
    std::lock_guard<std::mutex> lock(g_groups_mutex);
    id = g_next_group++;
    g_groups[id] = g;
    generation = ++g_generation[g->addr + ":" + std::to_string(g->port) + ":" + std::to_string(g->rank)];
  }
  auto* w = new InitWorker(env, g, id, generation);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// Makes `g` forget its group once rendezvous failed (the JS side calls DistDestroy then).
Napi::Value DistDestroy(const Napi::CallbackInfo& info) {
  int64_t id = arg_int(info, 0);
  std::shared_ptr<Group> g;
  {
    std::lock_guard<std::mutex> lock(g_groups_mutex);
    auto it = g_groups.find(static_cast<int>(id));
    if (it == g_groups.end()) return info.Env().Undefined();
    g = it->second;
    g_groups.erase(it);
  }
  g->stop.store(true);
  if (g->store && g->broken_reason().empty()) {
    try {
      g->store->add("done/" + std::to_string(g->rank), 1);
    } catch (const std::exception&) {
      // the store is gone: nobody is left to tell
    }
  }
  if (g->hb_thread.joinable()) g->hb_thread.join();
  return info.Env().Undefined();
}

c10d::ReduceOp reduce_op(const Napi::Env& env, const std::string& s) {
  if (s == "sum" || s == "avg") return c10d::ReduceOp::SUM;
  if (s == "product") return c10d::ReduceOp::PRODUCT;
  if (s == "min") return c10d::ReduceOp::MIN;
  if (s == "max") return c10d::ReduceOp::MAX;
  throw Napi::TypeError::New(env, "distributed: allReduce op must be one of sum, avg, product, min, max; got \"" + s + "\"");
}

// DistCollective(group, kind, handles, op, root, bucketBytes) -> Promise
Napi::Value DistCollective(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = group_of(info, 0);
  std::string kind = arg_string(info, 1);
  std::vector<at::Tensor> ts = arg_tensor_list(info, 2);
  Kind k;
  if (kind == "allReduce") k = Kind::AllReduce;
  else if (kind == "broadcast") k = Kind::Broadcast;
  else if (kind == "allGather") k = Kind::AllGather;
  else if (kind == "barrier") k = Kind::Barrier;
  else throw Napi::TypeError::New(env, "distributed: unknown collective " + kind);
  check_usable(env, *g, kind.c_str());
  std::string op = arg_string(info, 3);
  int root = static_cast<int>(checked_int(info, 4, "src (the root rank)", 0, g->size - 1));
  int64_t cap = checked_int(info, 5, "bucketBytes", 1, int64_t(1) << 50);
  if (k == Kind::AllGather && ts.size() != 1) throw Napi::TypeError::New(env, "distributed: allGather takes one tensor");
  for (size_t i = 0; i < ts.size(); i++) {
    if (!takes_device(*g, ts[i].device())) {
      throw Napi::TypeError::New(env, "distributed: " + kind + ": " + device_refusal(*g, "tensor " + std::to_string(i), ts[i].device()));
    }
    if (k == Kind::AllReduce && ts[i].scalar_type() == at::kBool) {
      throw Napi::TypeError::New(env, "distributed: allReduce: tensor " + std::to_string(i) + " is bool; reduce it as uint8 or int32");
    }
  }
  auto* w = new CollectiveWorker(env, g, k, std::move(ts), reduce_op(env, op), op == "avg", root, cap);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// DistReducerNew(group, paramHandles, bucketBytes) -> reducer id; hooks on the parameters' gradient accumulators
Napi::Value DistReducerNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto g = group_of(info, 0);
  std::vector<at::Tensor> ps = arg_tensor_list(info, 1);
  int64_t cap = checked_int(info, 2, "bucketBytes", 1, int64_t(1) << 50);
  auto r = std::make_shared<Reducer>();
  r->g = g;
  for (size_t i = 0; i < ps.size(); i++) {
    const at::Tensor& p = ps[i];
    if (!takes_device(*g, p.device())) {
      throw Napi::TypeError::New(env, "distributed: gradient reducer: " + device_refusal(*g, "parameter " + std::to_string(i), p.device()));
    }
    if (!p.requires_grad() || !p.is_leaf()) {
      throw Napi::TypeError::New(env, "distributed: gradient reducer: parameter " + std::to_string(i) + " is not a leaf that requires grad");
    }
    if (!p.is_floating_point() && !p.is_complex()) {
      throw Napi::TypeError::New(env, "distributed: gradient reducer: parameter " + std::to_string(i) + " is " + std::string(c10::toString(p.scalar_type())) +
                                          ", not a floating-point tensor");
    }
  }
  // reverse parameter order, as DistributedDataParallel
  std::vector<at::Tensor> rev(ps.rbegin(), ps.rend());
  auto rb = buckets_of(rev, cap);
  r->params = ps;
  r->bucket_of.assign(ps.size(), 0);
  r->offset.assign(ps.size(), 0);
  for (size_t b = 0; b < rb.size(); b++) {
    std::vector<size_t> idx;
    int64_t off = 0;
    for (size_t k : rb[b]) {
      size_t i = ps.size() - 1 - k;
      idx.push_back(i);
      r->bucket_of[i] = b;
      r->offset[i] = off;
      off += ps[i].numel();
    }
    r->flat.push_back(at::empty({off}, ps[idx[0]].options().requires_grad(false)));
    r->buckets.push_back(std::move(idx));
  }
  int id;
  {
    std::lock_guard<std::mutex> lock(g_reducers_mutex);
    id = g_next_reducer++;
    g_reducers[id] = r;
  }
  for (size_t i = 0; i < ps.size(); i++) {
    AccPtr acc = torch::autograd::impl::grad_accumulator(ps[i]);
    r->hook_keys.push_back(acc->add_post_hook(std::make_unique<ReadyHook>(std::weak_ptr<Reducer>(r), i)));
    r->accs.push_back(std::move(acc));
  }
  return Napi::Number::New(env, id);
}

// DistReducerPrepare(reducer): the next backward's gradients are this step's
Napi::Value DistReducerPrepare(const Napi::CallbackInfo& info) {
  auto r = reducer_of(info, 0);
  check_usable(info.Env(), *r->g, "allReduce");
  std::lock_guard<std::mutex> lock(r->m);
  if (r->armed) throw Napi::Error::New(info.Env(), "distributed: gradient reducer: the previous step's gradients were never finished (finish() or cancel())");
  r->armed = true;
  r->ready.assign(r->params.size(), 0);
  r->pending.clear();
  for (auto& b : r->buckets) r->pending.push_back(b.size());
  r->next = 0;
  r->works.clear();
  r->in_backward = 0;
  r->error.clear();
  return info.Env().Undefined();
}

// DistReducerCancel(reducer): this step had no batch; nothing was launched
Napi::Value DistReducerCancel(const Napi::CallbackInfo& info) {
  auto r = reducer_of(info, 0);
  std::lock_guard<std::mutex> lock(r->m);
  if (r->next > 0) throw Napi::Error::New(info.Env(), "distributed: gradient reducer: cannot cancel a step whose buckets are already being reduced");
  r->armed = false;
  return info.Env().Undefined();
}

// DistReducerFinish(reducer, extraHandles) -> Promise: every gradient averaged over the ranks (and the extra tensors, one more all-reduce)
Napi::Value DistReducerFinish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto r = reducer_of(info, 0);
  std::vector<at::Tensor> extra = arg_tensor_list(info, 1);
  check_usable(env, *r->g, "allReduce");
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  {
    std::lock_guard<std::mutex> lock(r->m);
    if (!r->armed) throw Napi::Error::New(env, "distributed: gradient reducer: finish() without prepare()");
    r->armed = false;
    if (!r->error.empty()) {
      r->g->set_broken(r->error);
      throw Napi::Error::New(env, "distributed: gradient reducer: " + r->error);
    }
    // parameters backward gave no gradient: zeros, so that every rank reduces the same buckets
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < r->params.size(); i++) {
      if (r->ready[i]) continue;
      at::Tensor& p = r->params[i];
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      r->copy_in(i, p.grad());
      r->ready[i] = 1;
      --r->pending[r->bucket_of[i]];
    }
    r->launch_ready();
    works = r->works;
  }
  for (size_t i = 0; i < extra.size(); i++) {
    if (!takes_device(*r->g, extra[i].device()) || !extra[i].is_contiguous()) {
      throw Napi::TypeError::New(env, "distributed: gradient reducer: extra tensor " + std::to_string(i) + " must be contiguous and on a device the group takes (" +
                                          extra[i].device().str() + ")");
    }
    std::vector<at::Tensor> one{extra[i]};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    works.push_back(on_backend(*r->g, extra[i].device(), [&](auto& pg) { return pg.allreduce(one, o); }));
  }
  auto* w = new ReduceWorker(env, r, std::move(works), std::move(extra));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

// DistReducerStats(reducer) -> [buckets, buckets launched from backward's hooks in the last step]
Napi::Value DistReducerStats(const Napi::CallbackInfo& info) {
  auto r = reducer_of(info, 0);
  std::lock_guard<std::mutex> lock(r->m);
  Napi::Array a = Napi::Array::New(info.Env(), 2);
  a.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(r->buckets.size())));
  a.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(r->in_backward)));
  return a;
}

// DistReducerFree(reducer): the hooks come off the accumulators
Napi::Value DistReducerFree(const Napi::CallbackInfo& info) {
  int64_t id = arg_int(info, 0);
  std::shared_ptr<Reducer> r;
  {
    std::lock_guard<std::mutex> lock(g_reducers_mutex);
    auto it = g_reducers.find(static_cast<int>(id));
    if (it == g_reducers.end()) return info.Env().Undefined();
    r = it->second;
    g_reducers.erase(it);
  }
  for (size_t i = 0; i < r->accs.size(); i++) r->accs[i]->del_post_hook(r->hook_keys[i]);
  r->accs.clear();
  return info.Env().Undefined();
}

}  // namespace

void register_distributed(Napi::Env env, Napi::Object exports) {
#ifdef REFINERY_HAS_NCCL
  exports.Set("distributedBackends", Napi::String::New(env, "gloo,nccl"));
#else
  exports.Set("distributedBackends", Napi::String::New(env, "gloo"));
#endif
  exports.Set("DistInit", Napi::Function::New(env, DistInit, "DistInit"));
  exports.Set("DistDestroy", Napi::Function::New(env, DistDestroy, "DistDestroy"));
  exports.Set("DistCollective", Napi::Function::New(env, DistCollective, "DistCollective"));
  exports.Set("DistReducerNew", Napi::Function::New(env, DistReducerNew, "DistReducerNew"));
  exports.Set("DistReducerPrepare", Napi::Function::New(env, DistReducerPrepare, "DistReducerPrepare"));
  exports.Set("DistReducerCancel", Napi::Function::New(env, DistReducerCancel, "DistReducerCancel"));
  exports.Set("DistReducerFinish", Napi::Function::New(env, DistReducerFinish, "DistReducerFinish"));
  exports.Set("DistReducerStats", Napi::Function::New(env, DistReducerStats, "DistReducerStats"));
  exports.Set("DistReducerFree", Napi::Function::New(env, DistReducerFree, "DistReducerFree"));
}

#else

void register_distributed(Napi::Env env, Napi::Object exports) {
  // this libtorch's headers lack Gloo (a pip wheel's torch folder ships no gloo/ headers): no process groups
  exports.Set("distributedBackends", Napi::String::New(env, ""));
}

#endif

}  // namespace refinery
