"""Where every file of a run lives: the one place that builds a file name.

The output tree follows DeepSIF's (``../source`` in a DeepSIF checkout)::

    OUTPUT/raw_nmm/a{r}/mean_iter_{m}_a_iter_{r}_{k}.mat   step 1, deleted by step 3
    OUTPUT/nmm_{name}/a{r}/nmm_{n}.mat                      step 2 clips
    OUTPUT/nmm_{name}/clip_info/iter{m}/iter_{m}_i_{r}.mat  step 2 markers (written last)
    OUTPUT/{train|test}_sample_source1.mat                  step 4
    OUTPUT/{train|test}_sample_nmm.h5                       the clip pack DeepSIF's trainer reads
    OUTPUT/{train|test}_sample_{head}_source1.mat           step 4 for a patient's head (--subject)
    OUTPUT/{train|test}_sample_{head}_nmm.h5                its clip pack
    OUTPUT/derived/head_{head}/                             a patient's cortex, regions and geometry
    OUTPUT/dataset.json                                     the manifest: settings, regions, files
    OUTPUT/logs/                                            logs, the run log, failure records, job files
    OUTPUT/derived/                                         derived template data (distances)
    OUTPUT/claims/                                          which run holds which region

Every other module asks a :class:`Layout` for a path; the ``matlab/``
functions get full paths (or, for clips, :meth:`Layout.clip_pattern`) in
their job files and build none.
"""

from dataclasses import dataclass
from pathlib import Path
import re

DEFAULT_TEMPLATE = "tvb76"  # built-in template used when no anatomy folder is given or found

# DeepSIF's names (forward/ scripts, the trainer), written once.
RAW_PIECE = "mean_iter_{m}_a_iter_{region}_{piece}.mat"
REGION_FOLDER = "a{region}"
CLIP_FILE = "nmm_{n}.mat"
MARKER_FOLDER = "iter{m}"
MARKER_FILE = "iter_{m}_i_{region}.mat"
SYNTHESIS_FILE = "{dataset}_sample_source1.mat"
# a patient's head (--subject): the name before "_source1", so that the trainer's pack name (the step-4
# file's name less its last 12 characters, plus "_nmm.h5") is the head's own pack
HEAD_SYNTHESIS_FILE = "{dataset}_sample_{head}_source1.mat"
HEAD_FOLDER = "head_{head}"
MANIFEST = "dataset.json"

_MARKER = re.compile("^" + re.escape(MARKER_FILE).replace(r"\{m\}", r"(\d+)").replace(r"\{region\}", r"(\d+)") + "$")
_RAW_PIECE = re.compile("^" + re.escape(RAW_PIECE).replace(r"\{m\}", r"(\d+)").replace(r"\{region\}", r"(\d+)")
                        .replace(r"\{piece\}", r"(\d+)") + "$")


@dataclass(frozen=True)
class Layout:
    """Paths of one output folder and clip set (``--output``, ``--filename``), and of the head whose step-4
    file and pack they are (``head``: a patient's name, ``--subject``; None: the template's)."""

    output: Path
    filename: str = "spikes"
    head: str = None

    def with_head(self, head):
        """The same folder and clip set, for the step-4 file and pack of ``head`` (None: the template's)."""
        return Layout(self.output, self.filename, head)

    # ---- step 1: raw pieces ------------------------------------------------------------------

    @property
    def raw_root(self):
        return self.output / "raw_nmm"

    def raw_dir(self, region):
        return self.raw_root / REGION_FOLDER.format(region=region)

    @staticmethod
    def piece_name(region, mean_iteration, piece, n_pieces):
        """Raw file name; the piece number is zero-padded so names sort in time order."""
        width = len(str(max(n_pieces - 1, 0)))
        return RAW_PIECE.format(m=mean_iteration, region=region, piece=f"{piece:0{width}d}")

    def raw_pieces(self, region, mean_iteration, n_pieces):
        """The ``n_pieces`` raw files of one region and mean iteration, in time order."""
        return [self.raw_dir(region) / self.piece_name(region, mean_iteration, k, n_pieces)
                for k in range(n_pieces)]

    @staticmethod
    def parse_piece_name(name):
        """``(mean_iteration, region, piece)`` of a raw file name, or None."""
        found = _RAW_PIECE.match(name)
        return tuple(int(g) for g in found.groups()) if found else None

    def raw_pieces_present(self, region, mean_iteration):
        """Every raw file of a region and mean iteration on disk, whatever its piece count."""
        folder = self.raw_dir(region)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir()
                      if (self.parse_piece_name(p.name) or (None, None))[:2] == (mean_iteration, region))

    # ---- step 2: clips and markers -------------------------------------------------------------

    @property
    def clip_root(self):
        return self.output / f"nmm_{self.filename}"

    def clip_dir(self, region):
        return self.clip_root / REGION_FOLDER.format(region=region)

    def clip(self, region, n):
        """Clip ``n`` (1-based) of a region."""
        return self.clip_dir(region) / CLIP_FILE.format(n=n)

    def clips_above(self, region, n):
        """The clip files of a region numbered above ``n``, in number order (a folder listing)."""
        folder = self.clip_dir(region)
        if not folder.is_dir():
            return []
        prefix, suffix = CLIP_FILE.split("{n}")
        numbered = {}
        for path in folder.iterdir():
            middle = path.name[len(prefix):len(path.name) - len(suffix)]
            if path.name.startswith(prefix) and path.name.endswith(suffix) and middle.isdigit():
                numbered[int(middle)] = path
        return [numbered[k] for k in sorted(numbered) if k > n]

    def clip_pattern(self, region=None):
        """The clip path as a MATLAB ``sprintf`` format: ``%d`` for the clip number (and the region).

        Step 2 (one region) fills the clip number; step 4 fills the region
        (0-based) and then the clip number.
        """
        root = str(self.clip_root).replace("%", "%%")
        folder = REGION_FOLDER.format(region="%d" if region is None else int(region))
        return str(Path(root) / folder / CLIP_FILE.format(n="%d"))

    def marker(self, mean_iteration, region):
        """The marker that step 2 of ``mean_iteration`` of ``region`` is done (written last)."""
        return (self.clip_root / "clip_info" / MARKER_FOLDER.format(m=mean_iteration)
                / MARKER_FILE.format(m=mean_iteration, region=region))

    def regions_with_marker(self, mean_iteration):
        """Regions that have a marker of ``mean_iteration`` (a folder listing; no file is read)."""
        folder = self.marker(mean_iteration, 0).parent
        if not folder.is_dir():
            return set()
        found = (_MARKER.match(p.name) for p in folder.iterdir())
        return {int(f.group(2)) for f in found if f and int(f.group(1)) == mean_iteration}

    # ---- step 4 and the pack ------------------------------------------------------------------

    def synthesis_file(self, dataset):
        if self.head is None:
            return self.output / SYNTHESIS_FILE.format(dataset=dataset)
        return self.output / HEAD_SYNTHESIS_FILE.format(dataset=dataset, head=self.head)

    def synthesis_key(self, dataset):
        """The manifest's key of the step-4 file of ``dataset``: the dataset, ``{dataset}@{head}`` for a head."""
        return dataset if self.head is None else f"{dataset}@{self.head}"

    @staticmethod
    def parse_synthesis_key(key):
        """``(dataset, head)`` of a manifest key (:meth:`synthesis_key`)."""
        dataset, _, head = key.partition("@")
        return dataset, head or None

    def heads_on_disk(self):
        """The patients' heads of this folder (``derived/head_{head}/``), sorted by name."""
        prefix, suffix = HEAD_FOLDER.split("{head}")
        if not self.derived_dir.is_dir():
            return []
        return sorted(p.name[len(prefix):] for p in self.derived_dir.iterdir()
                      if p.is_dir() and p.name.startswith(prefix) and p.name.endswith(suffix))

    @property
    def head_dir(self):
        """A patient's head: its cortex, region mapping and geometry in DeepSIF's file names."""
        return self.derived_dir / HEAD_FOLDER.format(head=self.head)

    def pack_file(self, dataset):
        """The HDF5 file DeepSIF's trainer opens beside the step-4 file: ``path[:-12] + '_nmm.h5'``."""
        synthesis = self.synthesis_file(dataset)
        return synthesis.with_name(synthesis.name[:-12] + "_nmm.h5")

    def _synthesis_stem(self, dataset):
        return f"synthesis_{dataset}" + ("" if self.head is None else f"_{self.head}")

    def synthesis_job(self, dataset):
        """Job file of step 4 run in one process."""
        return self.log_dir / f"{self._synthesis_stem(dataset)}_job.mat"

    def synthesis_stages(self, dataset, n_parts):
        """Files of step 4 run in stages (plan, ``n_parts`` scale-ratio processes, finish).

        Returns
        -------
        dict
            ``plan`` (the plan), ``parts`` (one result per ratio process),
            ``jobs`` (plan, ratio 1..n, finish), ``part_logs`` (one per ratio process).
        """
        stem = self.log_dir / f"{self._synthesis_stem(dataset)}_job"
        return {"plan": stem.with_name(stem.name + "_plan.mat"),
                "parts": [stem.with_name(f"{stem.name}_part{k}of{n_parts}.mat") for k in range(1, n_parts + 1)],
                "jobs": [stem.with_name(f"{stem.name}_stage_{name}.mat") for name in
                         ["plan"] + [f"ratios{k}" for k in range(1, n_parts + 1)] + ["finish"]],
                "part_logs": [self.synthesis_log(dataset, k) for k in range(1, n_parts + 1)]}

    def synthesis_log(self, dataset, part=None):
        return self.log_dir / f"{self._synthesis_stem(dataset)}{'' if part is None else f'_part{part}'}.log"

    def qc_figure(self, dataset):
        """``--verify --qc``'s figure."""
        return self.output / f"qc_{dataset}{'' if self.head is None else f'_{self.head}'}.png"

    @property
    def derived_dir(self):
        return self.output / "derived"

    # ---- records ------------------------------------------------------------------------------

    @property
    def manifest(self):
        """``dataset.json``: what the folder holds and how it was made (see ``deepsif_pipeline.store.manifest``)."""
        return self.output / MANIFEST

    @property
    def log_dir(self):
        return self.output / "logs"

    def region_log(self, region):
        return self.log_dir / f"region_{region}.log"

    def step2_job(self, region):
        return self.log_dir / f"region_{region}_step2_job.mat"

    def failure_record(self, region):
        """``logs/region_{r}.failed``: why the region's last attempt failed (removed once it is done)."""
        return self.log_dir / f"region_{region}.failed"

    @property
    def run_log(self):
        """``logs/runs.log``: one timestamped line per event of every run on this folder."""
        return self.log_dir / "runs.log"

    def dask_task_log(self, label):
        """The output of a Dask task's orchestrator, named by its regions (``dask_runner.group_label``)."""
        return self.log_dir / f"dask_regions_{label}.log"

    def dask_probe(self, run_id):
        """A file the Dask client writes for its workers to see (shared folder check)."""
        return self.log_dir / f".dask_run_{run_id}"

    def task_result(self, label, tag):
        """The typed results a Dask task's run writes for it (``--result-file``), by regions and attempt."""
        return self.log_dir / f".result_regions_{label}_{tag}.json"

    @property
    def claim_dir(self):
        """``OUTPUT/claims/``: one ``{name}.claim`` per unit being made (see ``claims``)."""
        return self.output / "claims"

    @staticmethod
    def region_claim(region):
        return f"region_{region}"

    def synthesis_claim(self, dataset):
        """Step 4 and the pack of ``dataset`` (run together), of this layout's head."""
        return self._synthesis_stem(dataset)

    MANIFEST_CLAIM = "manifest"


def compact_ranges(values):
    """``[0, 1, 2, 5, 7, 8]`` -> ``'0-2, 5, 7-8'``."""
    values = sorted(int(v) for v in values)
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(parts)


def resolve_locations(anatomy=None, output=None, cwd=None):
    """The anatomy and output folders of a run.

    With neither given and a ``../anatomy`` folder present (the script sits
    in a DeepSIF checkout's ``forward/`` folder), DeepSIF's own
    ``../anatomy`` and ``../source`` are used. Otherwise the anatomy
    defaults to the built-in template and the output to ``./source``.

    Returns
    -------
    anatomy : Path or str
        A folder, or the name of a built-in template (kept as given when
        it is not an existing folder).
    output : Path
    """
    cwd = Path.cwd() if cwd is None else Path(cwd)
    deepsif = cwd.parent / "anatomy"
    if anatomy is None and deepsif.is_dir():
        return deepsif.resolve(), (Path(output) if output else cwd.parent / "source").resolve()
    out = (Path(output) if output else cwd / "source").expanduser().resolve()
    if anatomy is None:
        return DEFAULT_TEMPLATE, out
    if not Path(anatomy).expanduser().exists() and "/" not in str(anatomy):
        return str(anatomy), out  # a template name (or a missing folder: load_template says so)
    return Path(anatomy).expanduser().resolve(), out
