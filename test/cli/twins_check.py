"""Runs the PyTorch twins of python/refinery_twins.py for test/cli/export.test.ts.

  twins_check.py run EXPORT INPUTS OUT    load EXPORT into its twin (strict), write its outputs on INPUTS to OUT
  twins_check.py make KIND INPUTS STATE OUT
                                          a twin of KIND with PyTorch's own random init (seeded, BatchNorm
                                          statistics moved by train-mode passes): its state dict to STATE (with
                                          refinery_metadata), its outputs on INPUTS to OUT

INPUTS holds x0 (clean, in [-1, 1]) and x (noisy) (B, 1, 28, 28) float32, sigma (B,) float32 and labels (B,) int64; OUT holds y.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import torch  # noqa: E402
from refinery_twins import (  # noqa: E402
    Denoiser, FashionClassifier, NoisyClassifier, denoiser_from_metadata, load_file, model_from_metadata,
    refinery_metadata, save_file)

torch.set_num_threads(1)


def outputs(kind, model, inputs):
    x, sigma, labels = inputs["x"], inputs["sigma"], inputs["labels"]
    with torch.no_grad():
        if kind == "fashion-classifier":
            return model.eval()((inputs["x0"] + 1) / 2)  # the classifier takes [0, 1] pixels
        if kind == "noisy-classifier":
            return model.eval()(x, sigma.double())
        return model.eval()(x, sigma, labels)


def run(export, inputs_path, out):
    state, metadata = load_file(export)
    kind = json.loads(metadata["config"])["kind"]
    if kind == "diffusion":
        model = denoiser_from_metadata(metadata, state)  # strict load into its U-Net
    else:
        model = model_from_metadata(metadata)
        model.load_state_dict(state, strict=True)
    inputs, _ = load_file(inputs_path)
    save_file({"y": outputs(kind, model, inputs)}, out)


def make(kind, inputs_path, state_path, out):
    torch.manual_seed(7)
    if kind == "fashion-classifier":
        model = FashionClassifier()
        with torch.no_grad():  # move the running statistics off their initial 0 / 1
            for _ in range(3):
                model.train()(torch.rand(16, 1, 28, 28))
        state = model.state_dict()
    elif kind == "noisy-classifier":
        model = NoisyClassifier()
        with torch.no_grad():
            model.noise_embed.freqs.normal_()
        state = model.state_dict()
    else:
        unet = dict(inChannels=1, outChannels=1, channels=32, channelMult=[1, 2, 2], numResBlocks=1, imageSize=28, numClasses=10, dropout=0)
        model = Denoiser(unet, "edm", 0.5)
        with torch.no_grad():
            model.net.noise_embed.freqs.normal_(0, 16)
        state = model.net.state_dict()
    save_file(state, state_path, metadata=refinery_metadata(model))
    inputs, _ = load_file(inputs_path)
    save_file({"y": outputs(kind, model, inputs)}, out)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"run": run, "make": make}[cmd](*args)
