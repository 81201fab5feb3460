"""``python -m suite.bench``: the same command as ``qbench bench``.

$ python -m suite.bench --parts rates,train --configs nf4,bnb-nf4
"""

from suite.bench.command import bench

if __name__ == "__main__":
    bench(prog_name="python -m suite.bench")
