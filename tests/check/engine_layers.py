#!/usr/bin/env python3
"""Checks that the master engine's files call one way.

The engine is layered (docs/architecture.md, "The master"): registry ->
job generator -> planner -> (receiver tracker, Kafka planner) -> task
scheduler, with the checkpointer beside and below. A file may include
(directly or through any master/ header) only engine headers of layers below
its own, plus its own header; since every build is -Werror on implicit
declarations, a file cannot call what it does not include, so this proves
no file calls up into the one that calls it.

Usage: engine_layers.py [MASTER_DIR]     check the tree (exit 1 on a back edge)
       engine_layers.py --self-test      check that a planted back edge is found
"""
import os
import re
import sys
import tempfile

# rank of each engine header: a file may reach only lower ranks (and its own)
RANK = {
    "checkpoint.h": 0,
    "tasksched.h": 1,
    "rtracker.h": 2,
    "kafka_src.h": 2,
    "model.h": 3,
    "stateplan.h": 3.5,
    "plan.h": 4,
    "jobgen.h": 5,
    "engine_int.h": 7,
    "engine.h": 6,
}
# the rank of each engine source file and the header it implements
FILES = {
    "checkpoint.c": (0, "checkpoint.h"),
    "tasksched.c": (1, "tasksched.h"),
    "rtracker.c": (2, "rtracker.h"),
    "kafka_src.c": (2, "kafka_src.h"),
    "stateplan.c": (3.5, "stateplan.h"),
    "plan.c": (4, "plan.h"),
    "jobgen.c": (5, "jobgen.h"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def includes(master, name, cache):
    """Engine headers reachable from master/name through master/ headers."""
    if name in cache:
        return cache[name]
    cache[name] = set()
    path = os.path.join(master, name)
    if not os.path.exists(path):
        return cache[name]
    found = set()
    with open(path, encoding="utf-8") as f:
        for inc in INCLUDE.findall(f.read()):
            if not os.path.exists(os.path.join(master, inc)):
                continue  # common/ or generated: not the engine
            if inc in RANK:
                found.add((inc, name))
            for h, via in includes(master, inc, cache):
                found.add((h, via))
    cache[name] = found
    return found


def check(master):
    problems = []
    cache = {}
    units = dict(FILES)
    for h, r in RANK.items():
        units.setdefault(h, (r, h))
    for name, (rank, own) in sorted(units.items()):
        for h, via in sorted(includes(master, name, cache)):
            if h == own:
                continue
            if RANK[h] >= rank:
                problems.append(
                    f"{name} (layer {rank}) reaches {h} (layer {RANK[h]})"
                    f" through {via}: a call up or sideways")
    return problems


def self_test():
    """A tree with one planted back edge must fail, the real one pass."""
    here = os.path.dirname(os.path.abspath(__file__))
    master = os.path.join(here, "..", "..", "master")
    with tempfile.TemporaryDirectory() as d:
        for n in os.listdir(master):
            if n.endswith((".c", ".h")):
                with open(os.path.join(master, n), encoding="utf-8") as f:
                    text = f.read()
                if n == "tasksched.c":  # the scheduler calling the planner
                    text = '#include "plan.h"\n' + text
                with open(os.path.join(d, n), "w", encoding="utf-8") as f:
                    f.write(text)
        planted = check(d)
    if not any(p.startswith("tasksched.c") and "plan.h" in p for p in planted):
        print("self-test: a planted back edge tasksched.c -> plan.h was not found")
        return 1
    print("self-test: planted back edge found:", planted[0])
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    here = os.path.dirname(os.path.abspath(__file__))
    master = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..",
                                                                  "master")
    problems = check(master)
    for p in problems:
        print(p)
    if problems:
        return 1
    print("engine layers: every include goes down "
          f"({len(FILES)} engine files, {len(RANK)} headers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
