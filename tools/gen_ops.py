#!/usr/bin/env python3
"""Generate Refinery's op surface from ATen's declarations.

  gen_ops.py --declarations Declarations.yaml   # trim a fresh torchgen output into native/gen/declarations.json
  gen_ops.py                                    # regenerate C++ and TypeScript from the committed JSON
  --allow-missing-guards                        # another libtorch: guards of ops it lacks are dropped, not an error

Declarations.yaml comes from `python3 -m torchgen.gen -s <ATen dir> -d OUT --generate declarations_yaml`
(see scripts/gen-declarations.sh). As in tch-rs, an op is bound only when every argument and return
type is in a closed set; internal `_` ops, `out=` variants, Dimname overloads and deprecated ops are skipped.
The one family of `_` ops bound is `_foreach_*` (multi-tensor arithmetic over lists of tensors, what
torch.optim's foreach optimizers use), as `_foreachAdd_` and so on.
"""
import hashlib, json, os, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DECL_JSON = os.path.join(ROOT, 'native/gen/declarations.json')
CC_DIR = os.path.join(ROOT, 'native/generated')
TS_OUT = os.path.join(ROOT, 'src/tensor/generated/ops.ts')
N_FILES = 4

# C++ argument type -> kind code shared with native/src/convert.h and src/tensor/dispatch.ts
ARG_KINDS = {
    'const at::Tensor &': 'T', 'at::Tensor &': 'Tm',
    'const c10::optional<at::Tensor> &': 'T?',
    'at::TensorList': 'TL', 'const at::ITensorListRef &': 'TLr',
    'const c10::List<c10::optional<at::Tensor>> &': 'T?L',
    'int64_t': 'I', 'c10::optional<int64_t>': 'I?',
    'at::IntArrayRef': 'IA', 'at::OptionalIntArrayRef': 'IA?',
    'double': 'F', 'c10::optional<double>': 'F?',
    'c10::optional<at::ArrayRef<double>>': 'FA?',
    'bool': 'B', 'c10::optional<bool>': 'B?',
    '::std::array<bool,2>': 'BA2', '::std::array<bool,3>': 'BA3', '::std::array<bool,4>': 'BA4',
    'const at::Scalar &': 'S', 'const c10::optional<at::Scalar> &': 'S?', 'at::ArrayRef<at::Scalar>': 'SA',
    'at::ScalarType': 'ST', 'c10::optional<at::ScalarType>': 'ST?',
    'c10::string_view': 'STR', 'c10::optional<c10::string_view>': 'STR?',
    'c10::optional<at::Generator>': 'G?',
    'at::MemoryFormat': 'MF', 'c10::optional<at::MemoryFormat>': 'MF?',
    'at::Device': 'DV', 'c10::optional<at::Device>': 'DV?',
    'c10::optional<at::Layout>': 'LY?',
    'at::TensorOptions': 'TO',
}
RET_KINDS = {
    'at::Tensor': 'T', 'at::Tensor &': 'T', 'const at::Tensor &': 'T',
    '::std::vector<at::Tensor>': 'TV', 'bool': 'B', 'int64_t': 'I', 'double': 'F',
    'at::Scalar': 'S', 'at::ScalarType': 'ST', '::std::vector<int64_t>': 'IV',
}
# Ops that make no sense from JS, or are written by hand in src/tensor (the hand-written versions win).
SKIP_NAMES = {
    'from_file', 'is_pinned', 'pin_memory', 'record_stream', 'set_', 'set_data', 'data', 'retain_grad',
    'retains_grad', 'requires_grad_', 'output_nr', 'is_leaf', 'backward', 'item', 'size', 'stride',
    'lift', 'lift_fresh', 'lift_fresh_copy', 'qscheme', 'q_per_channel_axis', 'to_mkldnn', 'mkldnn_reorder_conv2d_weight',
    'mkldnn_reorder_conv3d_weight', 'to_padded_tensor', 'fbgemm_linear_int8_weight', 'fbgemm_pack_quantized_matrix',
    'nonzero_static', 'sym_size', 'sym_stride', 'sym_numel', 'sym_storage_offset',
}

# Checks run before the call, for kernels of this libtorch (1.13) that crash or hang the process on
# bad input instead of raising (found by test/tensor/fuzz.test.ts). Keyed by "name" or "name.overload";
# {arg} stands for the converted argument. A failing TORCH_CHECK becomes a JS Error naming the op.
_FINITE = 'guard_lapack_finite({%s}, "%s");'
_MARGIN_WEIGHT = ('if ({weight} && {weight}->defined()) TORCH_CHECK({weight}->dim() <= 1 && {weight}->numel() == ({self}.dim() ? {self}.size(-1) : 1), '
                  '"%s: weight must hold one value per class (", {self}.dim() ? {self}.size(-1) : 1, "), got sizes ", {weight}->sizes());')
_FRACTIONAL = (
    'TORCH_CHECK({self}.dim() == %(d)d + 1 || {self}.dim() == %(d)d + 2, "%(op)s: expected a %(d1)d-d or %(d2)d-d input, got sizes ", {self}.sizes()); '
    'TORCH_CHECK({random_samples}.dim() == 3 && {random_samples}.size(0) == ({self}.dim() == %(d)d + 2 ? {self}.size(0) : 1) '
    '&& {random_samples}.size(1) == {self}.size(-%(d)d - 1) && {random_samples}.size(2) == %(d)d, "%(op)s: random_samples must have sizes '
    '[N, C, %(d)d] = [", {self}.dim() == %(d)d + 2 ? {self}.size(0) : 1, ", ", {self}.size(-%(d)d - 1), ", %(d)d], got ", {random_samples}.sizes()); '
    'if ({random_samples}.numel() && {random_samples}.is_floating_point()) {{ auto mm = at::aminmax({random_samples}.detach()); '
    'double lo = std::get<0>(mm).item<double>(), hi = std::get<1>(mm).item<double>(); '
    'TORCH_CHECK(lo >= 0 && hi <= 1, "%(op)s: random_samples must be in [0, 1], got values in [", lo, ", ", hi, "]"); }}')
GUARDS = {
    # empty list: reads tensors[0]
    'align_tensors': 'TORCH_CHECK(!{tensors}.empty(), "align_tensors: expected a non-empty list of tensors");',
    # no checks on rank, groups or divisibility (channel_shuffle has them): division by zero (SIGFPE)
    'native_channel_shuffle': 'guard_channel_shuffle({self}, {groups});',
    # indexes hx[0] and hx[1] unchecked
    'quantized_lstm_cell': 'TORCH_CHECK({hx}.size() == 2, "quantized_lstm_cell: expected two hidden states (h, c), got ", {hx}.size());',
    # 0-d self: segfault
    'matrix_exp_backward': 'TORCH_CHECK({self}.dim() >= 2, "matrix_exp_backward: expected a matrix or a batch of matrices, got a ", {self}.dim(), "-d tensor");',
    # reads numel floats unchecked; n_bins, ratio and bit_width bound loops and shifts
    'choose_qparams_optimized': 'guard_choose_qparams({input}, {numel}, {n_bins}, {ratio}, {bit_width});',
    # reads bins[d] for each of the last dimension's N coordinates
    'histogramdd': 'TORCH_CHECK({self}.dim() >= 1 && (int64_t){bins}.size() == {self}.size(-1), "histogramdd: expected one bin '
                   'count per coordinate (", {self}.dim() ? {self}.size(-1) : 0, "), got ", {bins}.size());',
    # writes through grad_in as if it had the unfolded shape of input_sizes
    'unfold_backward': 'guard_unfold_backward({grad_in}, {input_sizes}, {dim}, {size}, {step});',
    # per-channel statistics of any size, absent statistics, empty input (SIGFPE)
    'native_batch_norm': 'guard_batch_norm({input}, {weight}, {bias}, {running_mean}, {running_var}, {training});',
    'native_batch_norm_backward': 'guard_batch_norm_backward({grad_out}, {input}, {weight}, {running_mean}, {running_var}, '
                                  '{save_mean}, {save_invstd}, {train});',
    'batch_norm_update_stats': 'guard_batch_norm_update_stats({input}, {running_mean}, {running_var});',
    # index values used unchecked as offsets (and, for the adaptive pools, shapes trusted)
    'adaptive_max_pool2d_backward': 'guard_pool_indices({grad_output}, {self}, {indices}, 2, true, "adaptive_max_pool2d_backward");',
    'adaptive_max_pool3d_backward': 'guard_pool_indices({grad_output}, {self}, {indices}, 3, true, "adaptive_max_pool3d_backward");',
    'max_pool2d_with_indices_backward': 'guard_pool_indices({grad_output}, {self}, {indices}, 2, false, "max_pool2d_with_indices_backward");',
    'max_pool3d_with_indices_backward': 'guard_pool_indices({grad_output}, {self}, {indices}, 3, false, "max_pool3d_with_indices_backward");',
    # random_samples (one value in [0, 1) per plane and pooled dimension) read as [N, C, d] whatever its
    # size; values far outside [0, 1] (or NaN) overflow the int conversion of the pooling intervals
    'fractional_max_pool2d': _FRACTIONAL % {'d': 2, 'd1': 3, 'd2': 4, 'op': 'fractional_max_pool2d'},
    'fractional_max_pool3d': _FRACTIONAL % {'d': 3, 'd1': 4, 'd2': 5, 'op': 'fractional_max_pool3d'},
    # indices read as if of grad_output's sizes
    'fractional_max_pool2d_backward': 'guard_pool_indices({grad_output}, {self}, {indices}, 2, true, "fractional_max_pool2d_backward");',
    'fractional_max_pool3d_backward': 'guard_pool_indices({grad_output}, {self}, {indices}, 3, true, "fractional_max_pool3d_backward");',
    # weight read as one value per class whatever its size
    'multi_margin_loss': _MARGIN_WEIGHT % 'multi_margin_loss',
    'multi_margin_loss_backward': _MARGIN_WEIGHT % 'multi_margin_loss_backward',
    'ctc_loss.IntList': 'guard_index_values({targets}, {log_probs}.size(-1), "targets", "ctc_loss");',
    'ctc_loss.Tensor': 'guard_index_values({targets}, {log_probs}.size(-1), "targets", "ctc_loss");',
    'embedding_backward': 'if ({scale_grad_by_freq}) guard_index_values({indices}, {num_weights}, "indices", "embedding_backward");',
    'embedding_dense_backward': 'if ({scale_grad_by_freq}) guard_index_values({indices}, {num_weights}, "indices", "embedding_dense_backward");',
    'embedding_sparse_backward': 'if ({scale_grad_by_freq}) guard_index_values({indices}, {num_weights}, "indices", "embedding_sparse_backward");',
    'searchsorted.Tensor': 'if ({sorter} && {sorter}->defined()) guard_index_values(*{sorter}, {sorted_sequence}.dim() ? {sorted_sequence}.size(-1) : 0, "sorter", "searchsorted");',
    'searchsorted.Scalar': 'if ({sorter} && {sorter}->defined()) guard_index_values(*{sorter}, {sorted_sequence}.dim() ? {sorted_sequence}.size(-1) : 0, "sorter", "searchsorted");',
    # unsafe=True skips the checks that keep the kernel within bounds: always check
    'segment_reduce': '{unsafe} = false;',
    # on integer tensors a tiny beta becomes 0 in the kernel's type and x / beta traps (SIGFPE);
    # the forward has no integer kernel either
    'smooth_l1_loss_backward': 'TORCH_CHECK(!at::isIntegralType(at::promote_types(at::promote_types({grad_output}.scalar_type(), '
                               '{self}.scalar_type()), {target}.scalar_type()), true), "smooth_l1_loss_backward: integer tensors are not supported");',
    # RNN hidden states, packed batch sizes and cell weights (convert.h)
    'lstm.input': 'guard_lstm_hx({hx});',
    'lstm.data': 'guard_batch_sizes({batch_sizes}, "lstm"); guard_lstm_hx({hx});',
    'gru.data': 'guard_batch_sizes({batch_sizes}, "gru");',
    'rnn_tanh.data': 'guard_batch_sizes({batch_sizes}, "rnn_tanh");',
    'rnn_relu.data': 'guard_batch_sizes({batch_sizes}, "rnn_relu");',
    'lstm_cell': 'guard_rnn_cell_weights({w_ih}, {w_hh}, 4, "lstm_cell");',
    'gru_cell': 'guard_rnn_cell_weights({w_ih}, {w_hh}, 3, "gru_cell");',
    # in training mode writes one noise value per element of self into noise, whatever its size
    'rrelu_with_noise': 'TORCH_CHECK(!{training} || {noise}.sizes() == {self}.sizes(), "rrelu_with_noise: noise must have the sizes of self ", {self}.sizes(), ", got ", {noise}.sizes());',
    'rrelu_with_noise_': 'TORCH_CHECK(!{training} || {noise}.sizes() == {self}.sizes(), "rrelu_with_noise_: noise must have the sizes of self ", {self}.sizes(), ", got ", {noise}.sizes());',
    # divide by weight.size(1) (input channels per group), by empty sizes or by zero parameters (SIGFPE)
    'slow_conv3d': 'TORCH_CHECK({weight}.dim() == 5 && {weight}.size(1) > 0, "slow_conv3d: expected a 5-d weight with input channels, got sizes ", {weight}.sizes());',
    'slow_conv3d_forward': 'TORCH_CHECK({weight}.dim() == 5 && {weight}.size(1) > 0, "slow_conv3d_forward: expected a 5-d weight with input channels, got sizes ", {weight}.sizes());',
    'mkldnn_convolution': 'guard_mkldnn_convolution({self}, {weight}, {padding}, {stride}, {dilation}, {groups});',
    # LAPACK's SVD (gesdd/bdsqr), nonsymmetric eigensolver (geev/hseqr) and SVD-based least squares
    # (gelsd/gelss) loop forever or abort the process (xerbla) on NaN or infinite input
    'svd': _FINITE % ('self', 'svd'),
    'linalg_svd': _FINITE % ('A', 'linalg_svd'),
    'linalg_svdvals': _FINITE % ('A', 'linalg_svdvals'),
    'pinverse': _FINITE % ('self', 'pinverse'),
    'linalg_pinv': 'if (!{hermitian}) ' + _FINITE % ('self', 'linalg_pinv'),
    'linalg_pinv.atol_rtol_tensor': 'if (!{hermitian}) ' + _FINITE % ('self', 'linalg_pinv'),
    'linalg_pinv.atol_rtol_float': 'if (!{hermitian}) ' + _FINITE % ('self', 'linalg_pinv'),
    'linalg_pinv.rcond_tensor': 'if (!{hermitian}) ' + _FINITE % ('self', 'linalg_pinv'),
    'linalg_matrix_rank': 'if (!{hermitian}) ' + _FINITE % ('self', 'linalg_matrix_rank'),
    'linalg_matrix_rank.atol_rtol_tensor': 'if (!{hermitian}) ' + _FINITE % ('input', 'linalg_matrix_rank'),
    'linalg_matrix_rank.atol_rtol_float': 'if (!{hermitian}) ' + _FINITE % ('self', 'linalg_matrix_rank'),
    'linalg_matrix_rank.tol_tensor': 'if (!{hermitian}) ' + _FINITE % ('input', 'linalg_matrix_rank'),
    'nuclear_norm': _FINITE % ('self', 'nuclear_norm'),
    'nuclear_norm.dim': _FINITE % ('self', 'nuclear_norm'),
    'linalg_matrix_norm': 'if (std::abs({ord}.toDouble()) == 2) ' + _FINITE % ('self', 'linalg_matrix_norm'),
    'linalg_matrix_norm.str_ord': 'if ({ord} == "nuc") ' + _FINITE % ('self', 'linalg_matrix_norm'),
    'linalg_norm': 'if ({ord} && std::abs({ord}->toDouble()) == 2 && ({dim} ? {dim}->size() == 2 : {self}.dim() == 2)) '
                   + _FINITE % ('self', 'linalg_norm'),
    'linalg_norm.ord_str': 'if ({ord} == "nuc" && ({dim} ? {dim}->size() == 2 : {self}.dim() == 2)) ' + _FINITE % ('self', 'linalg_norm'),
    'linalg_cond': 'if (!{p} || std::abs({p}->toDouble()) == 2) ' + _FINITE % ('self', 'linalg_cond'),
    'linalg_cond.p_str': 'if ({p} == "nuc") ' + _FINITE % ('self', 'linalg_cond'),
    'linalg_eig': _FINITE % ('self', 'linalg_eig'),
    'linalg_eigvals': _FINITE % ('self', 'linalg_eigvals'),
    'linalg_lstsq': 'if ({driver} && (*{driver} == "gelsd" || *{driver} == "gelss")) {{ ' + _FINITE % ('self', 'linalg_lstsq')
                    + ' ' + _FINITE % ('b', 'linalg_lstsq') + ' }}',
}


def camel(name):
    lead = '_' if name.startswith('_') else ''
    trail = '_' if name.endswith('_') else ''
    parts = name.strip('_').split('_')
    return lead + parts[0] + ''.join(p[:1].upper() + p[1:] for p in parts[1:]) + trail


# Internal ops bound all the same: the multi-tensor (foreach) kernels.
BOUND_PREFIXES = ('_foreach_',)


def norm_type(t):
    """PyTorch 2.x writes `::std::optional<...>` and `::std::string_view` where 1.13 wrote c10's."""
    t = t.replace('::std::optional<', 'c10::optional<')
    t = re.sub(r'(?<![:\w])std::optional<', 'c10::optional<', t)
    t = t.replace('::std::string_view', 'c10::string_view')
    return re.sub(r'(?<![:\w])std::string_view', 'c10::string_view', t)


def trim(yaml_path):
    """The declarations as written to native/gen/declarations.json (returned; main() writes them)."""
    import yaml
    decls = yaml.load(open(yaml_path), Loader=getattr(yaml, 'CSafeLoader', yaml.SafeLoader))
    out = []
    for f in decls:
        args = []
        for a in f['arguments']:
            t = {'name': a['name'], 'type': a['type']}
            for k in ('default', 'size', 'kwarg_only', 'output'):
                if k in a:
                    t[k] = a[k]
            args.append(t)
        out.append({'name': f['name'], 'overload': f['overload_name'], 'schema': f['schema_string'],
                    'method_of': f['method_of'], 'deprecated': f.get('deprecated', False),
                    'args': args, 'returns': [{'name': r['name'], 'type': r['type']} for r in f['returns']]})
    return {'source': os.path.abspath(yaml_path), 'ops': out}


def select(ops):
    chosen = []
    for f in ops:
        name, ov = f['name'], f['overload']
        if (name.startswith('_') and not name.startswith(BOUND_PREFIXES)) or name in SKIP_NAMES or f['deprecated']:
            continue
        if 'out' in ov.split('_') or any(a.get('output') for a in f['args']):
            continue
        if 'Dimname' in ov or 'dimname' in ov or ov.endswith('names'):
            continue
        kinds = [ARG_KINDS.get(norm_type(a['type'])) for a in f['args']]
        if None in kinds:
            continue
        rets = f['returns']
        rk = [RET_KINDS.get(norm_type(r['type'])) for r in rets]
        if None in rk:
            continue
        # A returned `Tensor &` that names a mutated argument hands that argument back (in-place ops).
        arg_names = [a['name'] for a in f['args']]
        ret = []
        for r, k in zip(rets, rk):
            if norm_type(r['type']) == 'at::Tensor &' and r['name'] in arg_names:
                ret.append('SELF:' + str(arg_names.index(r['name'])))
            else:
                ret.append(k)
        is_method = 'Tensor' in f['method_of'] and 'self' in arg_names
        is_func = 'namespace' in f['method_of']
        if not (is_method or is_func):
            continue
        chosen.append(dict(f, kinds=kinds, ret=ret, is_method=is_method, is_func=is_func))
    return chosen


def vec_default(d, size):
    d = str(d)
    if d.startswith('{'):
        return 'std::vector<int64_t>' + d
    return 'std::vector<int64_t>(%d, %s)' % (size or 1, d)


def cpp_default(kind, d, size):
    if kind == 'B':
        return {'False': 'false', 'True': 'true'}.get(str(d), str(d).lower())
    if kind in ('IA',):
        return vec_default(d, size)
    if kind == 'TO':
        return 'at::TensorOptions()' if d == '{}' else 'at::TensorOptions(%s)' % d
    if kind == 'T?':
        return 'c10::nullopt'
    if kind == 'STR':
        return 'std::string(%s)' % d
    if kind in ('MF', 'MF?') and d.startswith('MemoryFormat'):
        return 'at::' + d
    if kind == 'S':
        return 'at::Scalar(%s)' % d
    if kind == 'F':
        return '(double)(%s)' % d
    return str(d)


# kind -> (C++ storage type, converter, expression passed to ATen)
def cpp_arg(kind, i, a):
    has_def = 'default' in a
    d = cpp_default(kind, a.get('default'), a.get('size')) if has_def else None
    size = a.get('size') or 0
    v = 'a%d' % i
    conv = {
        'T': ('const at::Tensor&', 'arg_tensor(info, %d)' % i, v),
        'Tm': ('at::Tensor', 'arg_tensor(info, %d)' % i, v),
        'T?': ('c10::optional<at::Tensor>', 'arg_opt_tensor(info, %d)' % i, v),
        'TL': ('std::vector<at::Tensor>', 'arg_tensor_list(info, %d)' % i, v),
        'TLr': ('std::vector<at::Tensor>', 'arg_tensor_list(info, %d)' % i, 'at::TensorList(%s)' % v),
        'T?L': ('c10::List<c10::optional<at::Tensor>>', 'arg_opt_tensor_clist(info, %d)' % i, v),
        'I': ('int64_t', 'arg_int(info, %d)' % i, v),
        'I?': ('c10::optional<int64_t>', 'arg_opt_int(info, %d)' % i, v),
        # int[N >= 2]: exactly N (or one, repeated), empty only where the default is [] (convert.h)
        'IA': ('std::vector<int64_t>', 'arg_int_list(info, %d, %d%s)' % (i, size, ', false' if size >= 2 and str(a.get('default')) != '{}' else ''), v),
        'IA?': ('c10::optional<std::vector<int64_t>>', 'arg_opt_int_list(info, %d, %d)' % (i, size),
                '%s ? at::OptionalIntArrayRef(*%s) : at::OptionalIntArrayRef()' % (v, v)),
        'F': ('double', 'arg_double(info, %d)' % i, v),
        'F?': ('c10::optional<double>', 'arg_opt_double(info, %d)' % i, v),
        'FA?': ('c10::optional<std::vector<double>>', 'arg_opt_double_list(info, %d)' % i,
                '%s ? c10::optional<at::ArrayRef<double>>(*%s) : c10::nullopt' % (v, v)),
        'B': ('bool', 'arg_bool(info, %d)' % i, v),
        'B?': ('c10::optional<bool>', 'arg_opt_bool(info, %d)' % i, v),
        'BA2': ('std::array<bool,2>', 'arg_bool_array<2>(info, %d)' % i, v),
        'BA3': ('std::array<bool,3>', 'arg_bool_array<3>(info, %d)' % i, v),
        'BA4': ('std::array<bool,4>', 'arg_bool_array<4>(info, %d)' % i, v),
        'S': ('at::Scalar', 'arg_scalar(info, %d)' % i, v),
        'S?': ('c10::optional<at::Scalar>', 'arg_opt_scalar(info, %d)' % i, v),
        'SA': ('std::vector<at::Scalar>', 'arg_scalar_list(info, %d)' % i, v),
        'ST': ('at::ScalarType', 'arg_scalar_type(info, %d)' % i, v),
        'ST?': ('c10::optional<at::ScalarType>', 'arg_opt_scalar_type(info, %d)' % i, v),
        'STR': ('std::string', 'arg_string(info, %d)' % i, 'c10::string_view(%s)' % v),
        'STR?': ('c10::optional<std::string>', 'arg_opt_string(info, %d)' % i,
                 '%s ? c10::optional<c10::string_view>(c10::string_view(*%s)) : c10::nullopt' % (v, v)),
        'G?': ('c10::optional<at::Generator>', 'arg_opt_generator(info, %d)' % i, v),
        'MF': ('at::MemoryFormat', 'arg_memory_format(info, %d)' % i, v),
        'MF?': ('c10::optional<at::MemoryFormat>', 'arg_opt_memory_format(info, %d)' % i, v),
        'DV': ('at::Device', 'arg_device(info, %d)' % i, v),
        'DV?': ('c10::optional<at::Device>', 'arg_opt_device(info, %d)' % i, v),
        'LY?': ('c10::optional<at::Layout>', 'arg_opt_layout(info, %d)' % i, v),
        'TO': ('at::TensorOptions', 'arg_tensor_options(info, %d)' % i, v),
    }[kind]
    storage, converter, expr = conv
    if d is not None:
        converter = 'present(info, %d) ? %s : %s(%s)' % (i, converter, storage.replace('const ', '').replace('&', ''), d)
        if storage.startswith('const at::Tensor&'):
            storage = 'at::Tensor'
    return '  %s %s = %s;' % (storage, v, converter), expr


def ops_hash(ops):
    """Identifies the bound op list; the TS table and the addon must agree on it."""
    return hashlib.sha256('\n'.join(f['schema'] for f in ops).encode()).hexdigest()[:16]


def emit_cc(ops, header='convert.h'):
    os.makedirs(CC_DIR, exist_ok=True)
    chunks = [[] for _ in range(N_FILES)]
    for idx, f in enumerate(ops):
        chunks[idx * N_FILES // len(ops)].append((idx, f))
    for n, chunk in enumerate(chunks):
        lines = ['// Generated by tools/gen_ops.py from native/gen/declarations.json. Do not edit.',
                 '#include "../src/%s"' % header, '', 'namespace refinery_ops {', '']
        for idx, f in chunk:
            label = f['name'] + ('.' + f['overload'] if f['overload'] else '')
            kinds = ','.join('%s:%s' % (a['name'], k) for a, k in zip(f['args'], f['kinds']))
            body, exprs = [], []
            for i, (a, k) in enumerate(zip(f['args'], f['kinds'])):
                decl, expr = cpp_arg(k, i, a)
                body.append(decl)
                exprs.append(expr)
            if label in GUARDS:
                names = {a['name']: 'a%d' % i for i, a in enumerate(f['args'])}
                body.append('  ' + GUARDS[label].format(**names))
            if f['is_func']:
                call = 'at::%s(%s)' % (f['name'], ', '.join(exprs))
            else:
                si = [a['name'] for a in f['args']].index('self')
                rest = [e for j, e in enumerate(exprs) if j != si]
                call = '%s.%s(%s)' % (exprs[si], f['name'], ', '.join(rest))
            if not f['ret']:
                body.append('  %s;' % call)
                body.append('  return info.Env().Undefined();')
            elif all(r.startswith('SELF') for r in f['ret']):
                body.append('  %s;' % call)
                body.append('  return info.Env().Undefined();')
            else:
                body.append('  return to_js(info.Env(), %s);' % call)
            lines.append('// %s' % f['schema'])
            lines.append('static Napi::Value op%d(const Napi::CallbackInfo& info) {' % idx)
            lines.append('  OP_TRY')
            lines.extend(body)
            lines.append('  OP_CATCH("%s", "%s")' % (label, kinds))
            lines.append('}')
            lines.append('')
        lines.append('void register_ops_%d(Napi::Env env, Napi::Array table) {' % n)
        for idx, f in chunk:
            lines.append('  table.Set(%du, Napi::Function::New(env, op%d, "%s"));' % (idx, idx, f['name']))
        lines.append('}')
        lines.append('')
        lines.append('}  // namespace refinery_ops')
        with open(os.path.join(CC_DIR, 'ops_%d.cc' % n), 'w') as fh:
            fh.write('\n'.join(lines) + '\n')
    with open(os.path.join(CC_DIR, 'ops.h'), 'w') as fh:
        fh.write('// Generated by tools/gen_ops.py. Do not edit.\n#pragma once\n#include <napi.h>\n\n'
                 'namespace refinery_ops {\nconstexpr uint32_t kNumOps = %du;\nconstexpr const char* kOpsHash = "%s";\n' % (len(ops), ops_hash(ops)))
        for n in range(N_FILES):
            fh.write('void register_ops_%d(Napi::Env env, Napi::Array table);\n' % n)
        fh.write('inline void register_all(Napi::Env env, Napi::Array table) {\n')
        for n in range(N_FILES):
            fh.write('  register_ops_%d(env, table);\n' % n)
        fh.write('}\n}  // namespace refinery_ops\n')


TS_TYPES = {
    'T': 'Tensor', 'Tm': 'Tensor', 'T?': 'Tensor | null', 'TL': 'Tensor[]', 'TLr': 'Tensor[]',
    'T?L': '(Tensor | null)[]', 'I': 'number', 'I?': 'number | null', 'IA': 'number | number[]',
    'IA?': 'number | number[] | null', 'F': 'number', 'F?': 'number | null', 'FA?': 'number[] | null',
    'B': 'boolean', 'B?': 'boolean | null', 'BA2': '[boolean, boolean]', 'BA3': '[boolean, boolean, boolean]',
    'BA4': '[boolean, boolean, boolean, boolean]', 'S': 'Scalar', 'S?': 'Scalar | null', 'SA': 'Scalar[]', 'ST': 'DType',
    'ST?': 'DType | null', 'STR': 'string', 'STR?': 'string | null', 'G?': 'Generator | null',
    'MF': 'MemoryFormat', 'MF?': 'MemoryFormat | null', 'DV': 'Device', 'DV?': 'Device | null', 'LY?': 'null',
}
# Tensor methods written by hand in src/tensor/tensor.ts (their generated signatures are left out).
HAND_METHODS = {'to', 'stft'}
TS_RESERVED = {'var', 'function', 'default', 'in', 'delete', 'new', 'this', 'class', 'return', 'if', 'else', 'for', 'while', 'do', 'switch', 'case', 'break', 'continue', 'with', 'void', 'typeof', 'instanceof', 'try', 'catch', 'finally', 'throw', 'const', 'let', 'enum', 'export', 'import', 'super', 'yield', 'static'}
TS_RET = {'T': 'Tensor', 'TV': 'Tensor[]', 'B': 'boolean', 'I': 'number', 'F': 'number', 'S': 'number',
          'ST': 'DType', 'IV': 'number[]'}


def ts_ret(f, method):
    rs = []
    for r in f['ret']:
        if r.startswith('SELF'):
            i = int(r.split(':')[1])
            rs.append('this' if method and f['args'][i]['name'] == 'self' else 'Tensor')
        else:
            rs.append(TS_RET[r])
    if not rs:
        return 'void'
    return rs[0] if len(rs) == 1 else '[%s]' % ', '.join(rs)


def ts_signatures(f, method):
    """TypeScript overloads: all positionals then `opts`, and required positionals then `opts`
    (every defaulted or keyword argument may be given in the trailing options object)."""
    args = [(a, k) for a, k in zip(f['args'], f['kinds']) if not (method and a['name'] == 'self')]
    positional = [(a, k) for a, k in args if not a.get('kwarg_only')]
    # A positional parameter may be optional only if every one after it is.
    last_required = max([i for i, (a, k) in enumerate(positional) if 'default' not in a and not k.endswith('?')] + [-1])
    req_pos, opt_pos, opts, opts_required = [], [], [], False
    for i, (a, k) in enumerate(positional):
        pname = camel(a['name']) + ('_' if a['name'] in TS_RESERVED else '')
        if i > last_required:
            opt_pos.append('%s?: %s' % (pname, TS_TYPES[k]))
            opts.append('%s?: %s' % (camel(a['name']), TS_TYPES[k]))
        else:
            req_pos.append('%s: %s' % (pname, TS_TYPES[k]))
    for a, k in args:
        if not a.get('kwarg_only'):
            continue
        if k == 'TO':
            opts += ['dtype?: DType', 'device?: Device', 'requiresGrad?: boolean']
            continue
        req = 'default' not in a and not k.endswith('?')
        opts_required |= req
        opts.append('%s%s: %s' % (camel(a['name']), '' if req else '?', TS_TYPES[k]))
    ret = ts_ret(f, method)
    o = ['opts%s: { %s }' % ('' if opts_required else '?', '; '.join(opts))] if opts else []
    sigs = ['(%s): %s' % (', '.join(req_pos + o), ret)]
    if not opts_required:
        # every prefix of the optional positionals, so that `x.sum(1, { keepdim: true })` type-checks
        for k in range(1, len(opt_pos) + 1):
            sigs.append('(%s): %s' % (', '.join(req_pos + [p.replace('?:', ':', 1) for p in opt_pos[:k - 1]] + [opt_pos[k - 1]] + o), ret))
    return sigs


def emit_ts(ops):
    by_name = {}
    for idx, f in enumerate(ops):
        by_name.setdefault(f['name'], []).append((idx, f))
    table = {}
    for name, group in by_name.items():
        entries = []
        for idx, f in group:
            args = []
            for a, k in zip(f['args'], f['kinds']):
                flags = (1 if 'default' in a or k.endswith('?') else 0) | (2 if a.get('kwarg_only') else 0)
                args.append([camel(a['name']), k, flags])
            entries.append({'i': idx, 'm': int(f['is_method']), 'f': int(f['is_func']),
                            'a': args, 'r': f['ret']})
        table[camel(name)] = entries
    out = ['// Generated by tools/gen_ops.py from native/gen/declarations.json. Do not edit.',
           "import type { Tensor, Generator } from '../tensor';",
           "import type { DType, Device, MemoryFormat, Scalar } from '../../types';", '',
           'export interface OpArgSpec { 0: string; 1: string; 2: number }',
           'export interface OpOverload { i: number; m: number; f: number; a: [string, string, number][]; r: string[] }',
           'export const NUM_OPS = %d;' % len(ops), "export const OPS_HASH = '%s';" % ops_hash(ops), '',
           '/** Overloads of each op, in ATen declaration order: native index, args [name, kind, flags], returns. */',
           'export const OPS: Record<string, OpOverload[]> = %s;' % json.dumps(table, separators=(',', ':')), '']
    out.append('/** Tensor methods bound from ATen (PyTorch names in camelCase). */')
    out.append('export interface TensorMethods {')
    for name, group in by_name.items():
        sigs = []
        for idx, f in group:
            if f['is_method'] and f['name'] not in HAND_METHODS:
                for s in ts_signatures(f, True):
                    if s not in sigs:
                        sigs.append(s)
        for s in sigs:
            out.append('  %s%s;' % (camel(name), s))
    out.append('}')
    out.append('')
    out.append('/** Functions bound from ATen (the `torch.*` namespace). */')
    out.append('export interface TorchFunctions {')
    for name, group in by_name.items():
        sigs = []
        for idx, f in group:
            if f['is_func']:
                for s in ts_signatures(f, False):
                    if s not in sigs:
                        sigs.append(s)
        for s in sigs:
            out.append('  %s%s;' % (camel(name), s))
    out.append('}')
    os.makedirs(os.path.dirname(TS_OUT), exist_ok=True)
    with open(TS_OUT, 'w') as fh:
        fh.write('\n'.join(out) + '\n')


def main():
    # everything is checked before anything is written: a failure leaves the tree as it was
    fresh = trim(sys.argv[sys.argv.index('--declarations') + 1]) if '--declarations' in sys.argv else None
    ops = select((fresh or json.load(open(DECL_JSON)))['ops'])
    unused = set(GUARDS) - {f['name'] + ('.' + f['overload'] if f['overload'] else '') for f in ops}
    if unused and '--allow-missing-guards' in sys.argv:
        print('gen_ops: this libtorch lacks (or does not bind) %d guarded ops; their guards are dropped: %s' % (len(unused), ', '.join(sorted(unused))))
        for k in unused:
            del GUARDS[k]
    elif unused:
        sys.exit('gen_ops: GUARDS for ops that are not bound: %s (for another libtorch, pass --allow-missing-guards)' % sorted(unused))
    # declarations of PyTorch 2.x (written with ::std::optional) need compat.h's additions; 1.13's
    # files stay as they were, so that a 1.13 build does not recompile them
    raw = (fresh or json.load(open(DECL_JSON)))['ops']
    modern = any('std::optional' in a['type'] for f in raw for a in f['args'])
    emit_cc(ops, 'compat.h' if modern else 'convert.h')
    emit_ts(ops)
    if fresh is not None:
        os.makedirs(os.path.dirname(DECL_JSON), exist_ok=True)
        with open(DECL_JSON, 'w') as fh:
            json.dump(fresh, fh, indent=0, separators=(',', ':'))
            fh.write('\n')
    print('bound %d ATen overloads (%d names)' % (len(ops), len({f['name'] for f in ops})))


if __name__ == '__main__':
    main()
