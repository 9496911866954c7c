"""Stage 4 worker: embed one job's share of a data directory, or merge the jobs' outputs.

e.g.: python -m ssrfnet.bin.extract_embeddings --conf exp/ssrfnet/config.conf --model exp/ssrfnet/final.pt \\
        --data data/vox1 --out-dir exp/ssrfnet/embeddings/vox1 --job 1 --num-jobs 4
      python -m ssrfnet.bin.extract_embeddings --merge --data data/vox1 \\
        --out-dir exp/ssrfnet/embeddings/vox1 --num-jobs 4
"""

from __future__ import annotations

import logging
import sys

from ssrfnet import cli
from ssrfnet.errors import ConfError
from ssrfnet.scoring.options import add_eval_options


def build_parser():
    parser = cli.new_parser("extract_embeddings", __doc__, add_eval_options)
    cli.add_model_argument(parser, required=False)
    parser.add_argument("--data", required=True, help="data directory with wav.scp")
    parser.add_argument("--out-dir", required=True, help="embedding directory")
    parser.add_argument("--job", type=int, default=1, help="this job's index, 1-based")
    parser.add_argument("--num-jobs", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="merge the job outputs and check coverage")
    parser.add_argument("--prefetch", type=int, default=4, help="audio files read ahead in threads")
    cli.add_backend_options(parser)
    return parser


def run(args) -> int:
    from ssrfnet.api import open_model
    from ssrfnet.extract import EmbeddingExtractor, extract_job, merge_parts

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.merge:
        count = merge_parts(args.data, args.out_dir, args.num_jobs, args.eval_write_crops)
        print(f"extract_embeddings: {count} utterances in {args.out_dir}/xvector.scp")
        return 0
    if not args.model:
        raise ConfError("--model is required (unless --merge)")
    loaded = open_model(args.model, backend=args.backend, quantized=args.quantize == "int8",
                        num_threads=args.num_threads or None)
    device = "cpu" if args.backend == "onnxruntime" else args.device
    extractor = EmbeddingExtractor.from_options(loaded.embedder, vars(args), device)
    logging.info("model %s (%s%s): %s", args.model, args.backend, ", int8" if args.quantize == "int8" else "",
                 extractor.describe())
    result = extract_job(extractor, args.data, args.out_dir, job=args.job, num_jobs=args.num_jobs,
                         write_crops=args.eval_write_crops, prefetch=args.prefetch)
    for key, why in result["failed"]:
        print(f"extract_embeddings: WARNING: no embedding for {key}: {why}", file=sys.stderr)
    print_notes(result["notes"])
    return 0


def print_notes(notes, shown: int = 5) -> None:
    """One warning line per kind of odd but usable input (each utterance is in the log above)."""
    kinds: dict[str, list[str]] = {}
    for key, note in notes:
        kind = ("several channels, mixed down to mono" if "channels" in note else
                "silent (every sample 0)" if note.startswith("silent") else
                "shorter than one crop, repeated end to end")
        kinds.setdefault(kind, []).append(key)
    for kind, keys in kinds.items():
        print(f"extract_embeddings: WARNING: {len(keys)} utterance(s) {kind}: {' '.join(keys[:shown])}"
              f"{' ...' if len(keys) > shown else ''}", file=sys.stderr)


main = cli.main_of("extract_embeddings", build_parser, run, memory=True)

if __name__ == "__main__":
    sys.exit(main())
