#!/usr/bin/env python3
"""DeepSIF's own data loader on output folders, each with the lead field its clips were made with.

Runs ``loaders.SpikeEEGBuild`` of a DeepSIF checkout (``git clone
https://github.com/bfinl/DeepSIF``), unchanged, on each folder's step-4 file
and pack, with the lead field the folder's ``--verify`` names (the one made
for ``--sensors`` in ``derived/``, else the template's given with
``--leadfield``), and builds every example. Printed per folder: the lead
field, the examples built and how many were not finite or of another shape.

DeepSIF's loader imports torch (for ``torch.utils.data.Dataset``) and its
``utils.py`` imports scikit-image (``skimage.filters.threshold_otsu``, which
the loader does not call); neither is needed to build examples, so when they
are not installed they are stood in by those two names only. ``loaders.py``
uses ``np.int``, which NumPy removed in 1.24: it is set back to ``int``.

Run::

    .venv/bin/python bench/bench_deepsif_loader.py --deepsif ~/DeepSIF out_standard_1020 out_GSN-HydroCel-128
"""

import argparse
import importlib.util
from pathlib import Path
import sys
import types

import numpy as np
from scipy.io import loadmat


def stand_ins():
    """Put torch's ``Dataset`` and scikit-image's ``threshold_otsu`` in ``sys.modules`` when they are missing."""
    if importlib.util.find_spec("torch") is None:
        torch, utils, data = (types.ModuleType(n) for n in ("torch", "torch.utils", "torch.utils.data"))
        data.Dataset, torch.utils, utils.data = object, utils, data
        sys.modules.update({"torch": torch, "torch.utils": utils, "torch.utils.data": data})
    if importlib.util.find_spec("skimage") is None:
        skimage, filters = types.ModuleType("skimage"), types.ModuleType("skimage.filters")
        filters.threshold_otsu, skimage.filters = None, filters
        sys.modules.update({"skimage": skimage, "skimage.filters": filters})
    if not hasattr(np, "int"):
        np.int = int


def folder_leadfield(out, leadfield=None):
    """The lead field file of an output folder: ``leadfield`` when given, else its one ``derived/leadfield_*.mat``."""
    if leadfield is not None:
        return Path(leadfield)
    heads = {lead for _, lead in heads_of(out)}
    made = sorted(p for p in (Path(out) / "derived").glob("leadfield_*.mat") if p not in heads)
    if len(made) != 1:
        raise SystemExit(f"{out}: {len(made)} lead fields in derived/; give the one to use with --leadfield")
    return made[0]


def heads_of(out):
    """The patients' heads of an output folder (``--subject``): ``[(name, lead field file)]``, from
    ``derived/head_{name}/head.json``."""
    import json
    found = []
    for info in sorted((Path(out) / "derived").glob("head_*/head.json")):
        found.append((info.parent.name[len("head_"):], Path(out) / "derived" / json.loads(info.read_text())["leadfield"]))
    return found


def build(loaders, step4, lead):
    """Every example of a step-4 file built by DeepSIF's loader with the lead field ``lead``; the line to print."""
    fwd = loadmat(str(lead))["fwd"]
    data = loaders.SpikeEEGBuild(str(step4), fwd=fwd, args_params={})
    bad = 0
    for i in range(len(data)):
        sample = data[i]
        bad += not (sample["data"].shape == (500, fwd.shape[0]) and sample["nmm"].shape == (500, fwd.shape[1])
                    and np.all(np.isfinite(sample["data"])) and np.all(np.isfinite(sample["nmm"])))
    return (f"{step4}: {lead.name} fwd {fwd.shape}; SpikeEEGBuild built {len(data)} examples, data "
            f"(500, {fwd.shape[0]}), nmm (500, {fwd.shape[1]}); {bad} not finite or of another shape")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--deepsif", type=Path, required=True, help="a DeepSIF checkout (its loaders.py and utils.py)")
    p.add_argument("--leadfield", help="the lead field file (default: the folder's derived/leadfield_*.mat)")
    p.add_argument("--dataset", default="test", choices=("train", "test"))
    p.add_argument("--heads", action="store_true",
                   help="also each patient's set of the folder (--subject: {dataset}_sample_{subject}_source1.mat) "
                        "with that patient's lead field")
    p.add_argument("outputs", nargs="+", type=Path, help="output folders with a step-4 file and a pack")
    args = p.parse_args()
    stand_ins()
    sys.path.insert(0, str(args.deepsif))
    import loaders  # DeepSIF's
    for out in args.outputs:
        print(build(loaders, out / f"{args.dataset}_sample_source1.mat", folder_leadfield(out, args.leadfield)),
              flush=True)
        for name, lead in heads_of(out) if args.heads else ():
            print(build(loaders, out / f"{args.dataset}_sample_{name}_source1.mat", lead), flush=True)


if __name__ == "__main__":
    main()
