"""Command line: ``symjax run | report | controls | list | bench-compare | bench-ab``, ``--version``.

Data-flow stage: the front door; ``run`` = matrix -> plan -> init -> train -> store (chunks) ->
metrics -> results tables, ``report`` = stored tables -> analysis -> report (never trains). Bad input ends in
one line on stderr saying what is wrong and what
is allowed, exit status 2, and no file written.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys

import symjax
from symjax.core.axes import AXES
from symjax.core.errors import SymjaxError, one_line

EXIT_USAGE = 2
EXIT_PEER_LOST = 1  # another process of a multi-process run stopped


def _os_message(error: OSError) -> str:
    """One line for a failed file operation, e.g. ``cannot write results/x/runs.parquet: No space left on
    device``."""
    return f"cannot write {error.filename or 'the results'}: {error.strerror or error}"


def _check_paths(args) -> None:
    """UsageError for a path argument that is not UTF-8 (it could not be printed or stored), before any
    work."""
    for flag in ("matrix", "out", "results", "bench", "current", "baseline"):
        value = getattr(args, flag, None)
        try:
            str(value).encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(
                f"{'' if flag == 'current' else '--'}{flag}: the path {value!r} is not valid UTF-8; allowed: "
                "UTF-8 paths"
            ) from None


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stoppable():
    """Inside, SIGTERM and SIGINT (even where the shell ignored it) raise KeyboardInterrupt, so that what is
    saved stays saved and temporary files are removed; the previous handlers afterwards."""
    previous = signal.signal(signal.SIGTERM, _interrupt), signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


class UsageError(SymjaxError):
    """Bad command-line input; the message is printed as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _csv(kind):
    def parse(text):
        items = [t.strip() for t in text.split(",")]
        if not all(items):
            raise argparse.ArgumentTypeError(f"empty item in {text!r}")
        try:
            return tuple(kind(t) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of {kind.__name__} values"
            ) from None

    return parse


def _datasets(text):
    """Built-in names and file:PATH datasets separated by commas; a comma inside a path is refused (say
    where)."""
    from symjax.core.data import DATASETS

    items = _csv(str)(text)
    after_file = [
        item
        for i, item in enumerate(items)
        if any(p.startswith("file:") for p in items[:i])
        and item not in DATASETS
        and not item.startswith("file:")
    ]
    if after_file:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a file path cannot hold a comma here (commas separate datasets); "
            'allowed: rename the file, or name it in a matrix file: dataset = ["file:..."]'
        )
    return items


def _hidden(text):
    """Hidden widths ``100,100``, or ``none`` (also an empty string) for no hidden layer."""
    return () if text.strip().lower() in ("", "none") else _csv(int)(text)


def _schemes(text):
    """Split S1,S2 at the commas that are not inside parentheses."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    items.append(current.strip())
    if not all(items):
        raise argparse.ArgumentTypeError(f"empty scheme in {text!r}")
    return tuple(items)


def _batch(text):
    if text == "full":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"{text!r}: allowed a positive integer or 'full'")


def _margin(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: allowed a number in [0, 1), e.g. 0.2")
    return value


def _report(args) -> int:
    """``symjax report``: the matrix report (unless --bench-only), then bench.md when there is a benchmark
    JSON."""
    from pathlib import Path

    from symjax.report.bench import load_bench, write_bench_report
    from symjax.report.build import check_outputs, write_index

    bench = Path(args.bench) if args.bench else Path(args.out) / "bench.json"
    with_bench = args.bench_only or args.bench is not None or bench.exists()
    if with_bench:
        load_bench(bench)  # bad benchmark JSON: fail before writing anything
    check_outputs(Path(args.out), bench=with_bench)  # nor replace a file that symjax did not write
    if not args.bench_only:
        print(f"wrote {symjax.build_report(args.results, args.out)}")
    if with_bench:
        print(f"wrote {write_bench_report(bench, args.out)}")
        write_index(Path(args.out))
    return 0


def _controls(args) -> int:
    """``symjax controls``: train the exact controls (unless --report-only), store their rows as
    ``<results>/controls.json``, render ``<out>/controls.md`` from that file and refresh the report index."""
    from pathlib import Path

    from symjax.core.files import atomic_write_text, check_written
    from symjax.report.build import check_outputs
    from symjax.report.controls import JSON_HEADER, NAME, controls_json, load_controls, write_controls_report

    stored = Path(args.results) / f"{NAME}.json"
    if args.report_only:
        load_controls(stored)  # a missing or malformed file: fail before writing anything
    else:
        check_outputs(Path(args.out), NAME)  # refuse before training, not after
        check_written(stored, JSON_HEADER)
        from symjax.experiments.controls import run_controls

        rows = run_controls()
        stored.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stored, controls_json(rows))
        print(f"wrote {stored}")
    print(f"wrote {write_controls_report(stored, Path(args.out))}")
    return 0


def _bench_compare(args) -> int:
    """``symjax bench-compare``: print one line per metric; 0 when none regressed, 1 otherwise."""
    from symjax.report.bench import compare_bench

    ok, lines = compare_bench(args.current, args.baseline, args.margin)
    print("\n".join(lines))
    print(
        f"ok: no ratio more than {args.margin:.0%} below the baseline"
        if ok
        else f"REGRESSION: a ratio is more than {args.margin:.0%} below the baseline {args.baseline}"
    )
    return 0 if ok else 1


def _bench_ab(args) -> int:
    """``symjax bench-ab``: time HEAD against BASE; 0 when no regression, 1 otherwise."""
    from symjax.abtest.abba import bench_ab

    with _stoppable():  # its exported revisions are removed when it is stopped
        return bench_ab(args.base, args.head, args.quick, args.tolerance, args.max_pairs)


def _memory(text):
    from symjax.engine.memory import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _one_hidden(text):
    """``--hidden``: the matrix's list of architectures, holding the one given."""
    return (_hidden(text),)


def _one_batch(text):
    """``--batch-size``: the matrix's list of batch sizes, holding the one given (None: full)."""
    return (_batch(text),)


def _flag_type(axis):
    """The argparse type of an axis's single-setting flag (``symjax.core.axes``)."""
    special = {"datasets": _datasets, "hidden": _one_hidden, "batch_sizes": _one_batch, "schemes": _schemes}
    return (
        special.get(axis.field)
        or {"int": int, "float": float, "strs": _csv(str), "floats": _csv(float)}[axis.kind]
    )


def _add_axis_flags(run, single) -> None:
    """One flag per axis of the table that has one: listed axes (replacing the matrix's list) in
    ``single``."""
    for axis in (a for a in AXES if a.flag):
        where = single if axis.role in ("grouped", "run") else run
        where.add_argument(
            axis.flag,
            dest=axis.field,
            type=_flag_type(axis),
            help=axis.help,
            metavar=axis.flag.lstrip("-").replace("-", "_").upper(),
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="symjax",
        description="Does training break symmetry from zero W and random b? Train, store, report.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {symjax.version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="train a benchmark matrix and store every run",
        description="Train every run of a matrix (built-in name or .toml file) and write results.",
    )
    run.set_defaults(func=_run)
    run.add_argument(
        "--matrix",
        default="default",
        help="built-in matrix name (see `symjax list`) or a .toml file; default: default",
    )
    run.add_argument("--out", help="results folder; default results/<matrix name>")
    _add_axis_flags(run, run.add_argument_group("single-setting overrides (replace the matrix axis)"))
    run.add_argument(
        "--max-memory",
        type=_memory,
        metavar="SIZE",
        help="device memory one chunk of runs may use, e.g. 8GiB; default: half of what the devices "
        "hold (CPU: half the memory available at start)",
    )
    hosts = run.add_argument_group("several hosts (jax.distributed; README: Many hosts)")
    hosts.add_argument(
        "--coordinator", metavar="HOST:PORT", help="address of process 0's coordination service"
    )
    hosts.add_argument("--num-processes", type=int, metavar="N", help="how many symjax processes take part")
    hosts.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 to N-1")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--fresh", action="store_true", help="discard the runs saved in the results folder and start over"
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (settings, groups = compilations, runs, memory, time) and train nothing",
    )
    report = sub.add_parser(
        "report",
        help="write the markdown report and plots from a results folder",
        description="Turn a results folder into OUT/<name>.md and plots under OUT/<name>/.",
    )
    report.set_defaults(func=_report)
    report.add_argument(
        "--results", default="results/default", help="results folder; default results/default"
    )
    report.add_argument("--out", default="reports", help="report folder; default reports")
    report.add_argument(
        "--bench",
        help="pytest-benchmark JSON to turn into OUT/bench.md; default OUT/bench.json when it exists",
    )
    report.add_argument(
        "--bench-only", action="store_true", help="only write OUT/bench.md (ignore --results)"
    )
    compare = sub.add_parser(
        "bench-compare",
        help="compare a benchmark JSON with a baseline; exit 1 on a regression",
        description="Compare the side-by-side ratios (vmap over loop, over loop on devices, over "
        "torch, % of GEMM peak) of CURRENT with a baseline at the same N.",
    )
    compare.set_defaults(func=_bench_compare)
    compare.add_argument("current", metavar="CURRENT.json", help="pytest-benchmark JSON of the run to check")
    compare.add_argument(
        "--baseline", default="bench/baseline.json", help="baseline JSON; default bench/baseline.json"
    )
    compare.add_argument(
        "--margin",
        type=_margin,
        default=0.2,
        help="allowed relative drop below the baseline, in [0, 1); default 0.2",
    )
    ab = sub.add_parser(
        "bench-ab",
        help="time two git revisions side by side (ABBA); exit 1 on a regression",
        description="Time per run-step of HEAD over BASE on the benchmark workload, each revision in "
        "its own warm process, in ABBA blocks, with a bootstrap 95% CI (bench/README.md).",
    )
    ab.set_defaults(func=_bench_ab)
    ab.add_argument("base", metavar="BASE", help="base git revision, e.g. main or a commit hash")
    ab.add_argument(
        "head", metavar="HEAD", nargs="?", help="head git revision; default: the checked-out commit"
    )
    ab.add_argument("--quick", action="store_true", help="the quick workload (SYMJAX_BENCH_QUICK=1)")
    ab.add_argument(
        "--tolerance",
        type=float,
        default=0.10,
        help="regression when the CI lies above 1 + this; default 0.10",
    )
    ab.add_argument(
        "--max-pairs",
        type=int,
        default=40,
        help="add ABBA blocks while inconclusive, up to this many pairs; default 40",
    )
    controls = sub.add_parser(
        "controls",
        help="train the exact controls (seconds) and write their report",
        description="Train tiny networks whose outcome theory predicts exactly, store the rows as "
        "RESULTS/controls.json and write OUT/controls.md from them.",
    )
    controls.set_defaults(func=_controls)
    controls.add_argument(
        "--results", default="results/controls", help="folder of controls.json; default results/controls"
    )
    controls.add_argument("--out", default="reports", help="report folder; default reports")
    controls.add_argument(
        "--report-only",
        action="store_true",
        help="only render OUT/controls.md from the stored RESULTS/controls.json (no training)",
    )
    sub.add_parser(
        "list",
        help="list schemes, datasets, optimizers, activations and matrices",
        description="List what a matrix can name.",
    ).set_defaults(func=_list)
    return parser


def _share(args):
    """This process's Share: jax.distributed.initialize when --coordinator etc. are given (all three or
    none)."""
    from symjax.engine.distributed import MAX_PROCESSES, Share, check_options, coordinator_address, initialize

    given = [args.coordinator, args.num_processes, args.process_id]
    if all(v is None for v in given):
        return Share()
    if any(v is None for v in given):
        raise UsageError(
            "--coordinator, --num-processes and --process-id go together; allowed: all three or none"
        )
    coordinator_address(args.coordinator)
    if not 1 <= args.num_processes <= MAX_PROCESSES or not 0 <= args.process_id < args.num_processes:
        raise UsageError(
            f"--process-id {args.process_id} with --num-processes {args.num_processes}: allowed: "
            f"1 <= N <= {MAX_PROCESSES} and 0 <= I < N"
        )
    if args.num_processes > 1 and args.dry_run:
        raise UsageError(
            "--dry-run with several processes: allowed on one process only (drop the host flags)"
        )
    # before initialize, which waits for the others
    check_options(args.num_processes, args.max_memory, args.fresh)
    try:
        return initialize(args.coordinator, args.num_processes, args.process_id)
    except SymjaxError:  # said in one line already (port in use, nothing answers)
        raise
    except Exception as error:  # jax already started, its service failed to start: one line
        raise UsageError(f"cannot join --coordinator {args.coordinator}: {one_line(error)}") from None


def matrix_from_args(args):
    """The matrix named by --matrix with the command-line overrides (one flag per axis) applied and
    validated."""
    from symjax.matrix.load import load_matrix
    from symjax.matrix.validate import checked

    matrix = load_matrix(args.matrix)
    given = {a.field: getattr(args, a.field, None) for a in AXES if a.flag}
    return checked(dataclasses.replace(matrix, **{field: v for field, v in given.items() if v is not None}))


def _dry_run(matrix, args) -> int:
    """``symjax run --dry-run``: check the folder as the real run does, print the plan, train nothing."""
    import jax

    from symjax.api import results_folder
    from symjax.engine.estimate import describe_plan
    from symjax.engine.memory import default_budget
    from symjax.engine.plan import make_plan
    from symjax.engine.resume import check_folder

    check_folder(results_folder(matrix, args.out), matrix, args.fresh)
    budget = default_budget() if args.max_memory is None else args.max_memory
    print("\n".join(describe_plan(matrix, make_plan(matrix, jax.local_device_count(), budget), budget)))
    return 0


def _run(args) -> int:
    """``symjax run``: train every run of the matrix not saved yet (resuming), then write its results
    tables."""
    matrix = matrix_from_args(args)
    share = _share(args)
    if args.dry_run:
        return _dry_run(matrix, args)
    with _stoppable():
        folder = symjax.run_matrix(
            matrix,
            args.out,
            show_progress=not args.quiet,
            fresh=args.fresh,
            max_memory=args.max_memory,
            share=share,
        )
    if share.index > 0:
        print(
            f"process {share.index}: saved its share of the chunks in {folder}/chunks; process 0 writes the "
            "results"
        )
        return 0
    from symjax.results.store import read_config

    timing = read_config(folder)["timing"]
    print(
        f"wrote {folder}/runs.parquet, curves.parquet, diagnostics.parquet, config.json ({timing['groups']} "
        f"groups; {timing['compilations']} compiled by this call)"
    )
    return 0


def _list(args) -> int:
    from symjax.core.data import DATASETS
    from symjax.core.group import MATMUL_PRECISIONS
    from symjax.core.models import ACTIVATIONS, MODELS
    from symjax.core.norms import NORMS
    from symjax.core.optimizers import OPTIMIZERS, SCHEDULES
    from symjax.core.schemes import BIAS_INIT_ARGS, WEIGHT_INIT_ARGS, describe
    from symjax.core.transformer import HEADS, MLP_RATIO, PATCH, layer_names
    from symjax.matrix.load import builtin_matrices

    print(f"weight inits:  {describe(WEIGHT_INIT_ARGS)}")
    print(f"bias inits:    {describe(BIAS_INIT_ARGS)}")
    print(
        "schemes:       WEIGHT/BIAS, e.g. lecun_normal/zeros, zeros/normal(1.0), "
        "constant(0.05)/normal(1.0); torch_default; a plug-in init module.path:function (README: Your own "
        "scheme, data or model)"
    )
    print(f"datasets:      {', '.join(DATASETS)}, file:PATH.npz (your own data; README)")
    print(
        f"models:        {', '.join(MODELS)}, or a plug-in module.path:name (a symjax.Model); hidden = [] "
        "for none"
    )
    print(
        "  resmlp:       an input layer, one residual block h + phi(norm(h W + b)) per further hidden entry "
        "(one width), the readout; layers 1 (input), 2.. (blocks), last (readout)"
    )
    print(
        f"  transformer:  tokens of {PATCH} features, one pre-LayerNorm block per hidden entry (one width, "
        f"{HEADS} heads, MLP {MLP_RATIO}x); layers: "
        + ", ".join(f"{i + 1} {n}" for i, n in enumerate(layer_names(2)))
        + " (with two blocks; each further block adds 6 more, the readout stays last)"
    )
    print(
        f"norms:         {', '.join(NORMS)} (norm = [...] or --norm; after each hidden affine map of mlp, "
        "cnn and resmlp)"
    )
    print(f"schedules:     {', '.join(SCHEDULES)} (schedule = [...] or --schedule)")
    print("precision:     float32 (default), float64 (dtype = [...] or --dtype)")
    print(
        f"products:      {', '.join(MATMUL_PRECISIONS)} (matmul_precision = [...] or --matmul-precision; "
        "highest, the default: full float32, no TF32 on a GPU)"
    )
    print(f"activations:   {', '.join(ACTIVATIONS)}")
    print(f"optimizers:    {', '.join(OPTIMIZERS)}")
    print(f"matrices:      {', '.join(builtin_matrices())}")
    return 0


def main(argv=None) -> int:
    """Parse the command line and run its subcommand's handler. Refused input (``SymjaxError``) and a failed
    file operation end in one line on stderr and exit status 2, the loss of another process of the run in one
    line and status 1, an interruption in one line and 130; any other exception is a bug and keeps its
    traceback."""
    from symjax.engine.interrupted import Interrupted, PeerLost

    try:
        args = build_parser().parse_args(argv)
        _check_paths(args)
        return args.func(args)
    except SymjaxError as error:
        print(f"symjax: error: {one_line(error)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # not writable, disk full: finished chunks stay saved, no partial file
        print(f"symjax: error: {_os_message(error)}", file=sys.stderr)
        return EXIT_USAGE
    except PeerLost as error:  # another process of the run stopped: not bad input, nothing lost
        print(f"symjax: error: {one_line(error)}", file=sys.stderr)
        return EXIT_PEER_LOST
    except (KeyboardInterrupt, Interrupted) as error:
        print(f"symjax: {error if isinstance(error, Interrupted) else 'interrupted'}", file=sys.stderr)
        return 130


def _peer() -> bool:
    """Whether this process joined a multi-process run as a process other than 0."""
    distributed = sys.modules.get("symjax.engine.distributed")
    return bool(distributed and distributed.JOINED and distributed.JOINED[0].index > 0)


def entry() -> None:
    """The ``symjax`` command: ``main``, then exit. After an interruption, exit at once: XLA may still be
    running the chunk in flight, and tearing the interpreter down under it can crash (what was saved is
    safe). So does a process other than 0 of a multi-process run: JAX's shutdown would disconnect it from
    process 0's coordination service, and aborts it if process 0 has already gone."""
    code = main()
    if code == 130 or _peer():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
