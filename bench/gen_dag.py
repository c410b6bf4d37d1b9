#!/usr/bin/env python3
"""Generate a synthetic stage library: a layered DAG of N stages (each depending on 2 stages of
the previous layer), each with 3 small templates using cfg and a no-op ctl.

usage: gen_dag.py OUT_DIR STAGES [LAYER_WIDTH]
"""
import os
import sys


def generate_library(out, n, width=20):
    """Writes the library into `out`; returns {stage: [deps]} in declaration order."""
    os.makedirs(out, exist_ok=True)
    names = [f"s{i:04d}" for i in range(n)]
    deps_of = {}
    for i, name in enumerate(names):
        layer = i // width
        deps = []
        if layer > 0:
            prev = names[(layer - 1) * width:layer * width]
            deps = sorted({prev[i % len(prev)], prev[(i + 1) % len(prev)]})
        deps_of[name] = deps
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for j in range(3):
            with open(os.path.join(d, f"file{j}.tf"), "w") as f:
                f.write(f'name = "{{{{ stage_name }}}}"\nregion = "{{{{ cfg.region }}}}"\nindex = {j}\n')
        ctl = os.path.join(d, "ctl")
        with open(ctl, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(ctl, 0o755)
    with open(os.path.join(out, "betterform_dag.mk"), "w") as f:
        f.write("".join(f"$(call define_stage, {s}, {' '.join(d)})\n" for s, d in deps_of.items()))
    return deps_of


if __name__ == "__main__":
    generate_library(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 20)
