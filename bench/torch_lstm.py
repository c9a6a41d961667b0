#!/usr/bin/env python3
"""PyTorch's nn.LSTM (cuDNN) at the shape the issue names (B=64, T=100, I=512, H=512): the
forward, the forward + backward of a mean-square loss on the outputs, and that plus an SGD
step, as bench/lstm-fwd-bwd.mjs times seqc's LSTM on the same machine. Medians of CUDA-event
timings after warm-up, in ms, with cuDNN allowed TF32 (PyTorch's default) and held to strict
f32 (what seqc computes in). Prints JSON, and writes it to --out if given; where there is no
torch or no GPU it says so in the JSON instead of failing, so a session script goes on."""
import argparse
import json
import os
import statistics
import sys


def timed(torch, work, warmup, repeats):
    for _ in range(warmup):
        work()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        work()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return {"min": round(min(times), 3), "median": round(statistics.median(times), 3), "max": round(max(times), 3), "runs": repeats}


def measure(args):
    try:
        import torch
    except ImportError as error:
        return {"skipped": f"no torch: {error}"}
    if not torch.cuda.is_available():
        return {"skipped": "torch sees no CUDA device", "torch": torch.__version__}
    B, T, I, H = args.batch, args.steps, args.input, args.hidden
    device = torch.device("cuda")
    torch.manual_seed(1)
    lstm = torch.nn.LSTM(I, H).to(device)  # seq-first, as seqc's [T, B, I]
    x = torch.randn(T, B, I, device=device)
    target = torch.randn(T, B, H, device=device)
    optimizer = torch.optim.SGD(lstm.parameters(), lr=1e-3)

    def forward():
        with torch.no_grad():
            lstm(x)

    def forward_backward():
        out, _ = lstm(x)
        torch.nn.functional.mse_loss(out, target).backward()

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        out, _ = lstm(x)
        torch.nn.functional.mse_loss(out, target).backward()
        optimizer.step()

    result = {
        "what": "torch.nn.LSTM on CUDA (cuDNN): forward; forward + backward of MSE on the outputs; that + SGD step. CUDA-event time per call, ms",
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "device": torch.cuda.get_device_name(0),
        "shape": {"B": B, "T": T, "I": I, "H": H},
    }
    for name, tf32 in (("tf32", True), ("strict_f32", False)):
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        result[name] = {
            "forward": timed(torch, forward, args.warmup, args.repeats),
            "forward_backward": timed(torch, forward_backward, args.warmup, args.repeats),
            "train_step": timed(torch, train_step, args.warmup, args.repeats),
        }
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--input", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    text = json.dumps(measure(args), indent=1)
    if args.out:
        with open(f"{args.out}.tmp", "w") as f:
            f.write(text + "\n")
        os.replace(f"{args.out}.tmp", args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
