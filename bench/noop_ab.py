#!/usr/bin/env python3
"""Interleaved A/B of the no-op `up -j2`, `plan` and `status` of two betterform builds against
`make -r -s -j2`, on the layered DAGs of `compare.py` (already up): each round runs every
command once, in turn, so both builds and make see the same machine state (which drifts
over minutes on these VMs). Prints medians and minima in ms, each including the cost of
starting a process from Python (printed too).

usage: bench/noop_ab.py OLD_BINARY NEW_BINARY [--stages 300,1000,3000] [--rounds 30]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import generate  # noqa: E402


def run(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return (time.perf_counter() - start) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--stages", default="300,1000,3000")
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    env = dict(os.environ, INTERACTIVE="false")
    for var in ("IMPL_DIR", "GENFILES", "OUTPUT_DIR", "CONFIG_JSONNET_FILE", "CONFIG_JSON_FILE"):
        env.pop(var, None)
    with tempfile.TemporaryDirectory() as tmp:
        for n in map(int, args.stages.split(",")):
            root = os.path.join(tmp, str(n))
            deploy, _ = generate(root, n)
            impl = os.path.join(root, "impl")
            # Each build in a deploy dir of its own: their indexes may differ in version.
            dirs = {"old": os.path.join(root, "old"), "new": deploy}
            subprocess.run(["cp", "-a", deploy, dirs["old"]], check=True)
            cmds = {}
            for build, binary in (("old", args.old), ("new", args.new)):
                for verb in ("up", "plan", "status"):
                    extra = ["-j2"] if verb == "up" else []
                    cmds[f"{build} {verb}"] = [binary, "--impl-dir", impl, "-C", dirs[build], verb, *extra]
            cmds["make"] = ["make", "-r", "-s", "-j2", "-C", deploy]
            # Brought up, then re-run until each build's index and caches have settled.
            for _ in range(3):
                for build in ("old", "new"):
                    run(cmds[f"{build} up"], env)
            run(cmds["make"], env)
            times = {name: [] for name in cmds}
            spawn = []
            for _ in range(args.rounds):
                for name, cmd in cmds.items():
                    times[name].append(run(cmd, env))
                spawn.append(run(["true"], env))
            print(f"{n} stages, {args.rounds} rounds (starting a process: {statistics.median(spawn):.2f} ms)")
            make = statistics.median(times["make"])
            for name, samples in times.items():
                median = statistics.median(samples)
                ratio = f"  {median / make:.2f}x make" if name.endswith(" up") else ""
                print(f"  {name:12s} median {median:7.1f}  min {min(samples):7.1f}{ratio}")


if __name__ == "__main__":
    main()
