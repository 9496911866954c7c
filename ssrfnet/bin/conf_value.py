"""What a recipe needs to know from its conf: the effective value of options (the conf's, else the default).

e.g.: python -m ssrfnet.bin.conf_value --conf conf/redimnet_b2_mini.conf exp-name model-type has-student
      -> redimnet_b2 redimnet false
Prints the values space-separated on one line, in the order asked (booleans as true/false, lists
comma-separated). Besides every option of the project (`--key` without the dashes), `has-student` says
whether the model type has a student to distil (stage 2). The conf is checked as stage 3 checks it, so a
recipe fails at once rather than in a training job: a key no option group knows, a model key the model type
does not read, or a teacher / KD / stage-2 option for a model without a student is an error naming the file
and line.
"""

from __future__ import annotations

import sys

from ssrfnet import cli

DERIVED = ("has-student",)


def build_parser():
    parser = cli.new_parser("conf_value", __doc__, *cli.option_groups(), runtime=False)
    parser.add_argument("names", nargs="+", help="option names (e.g. exp-name model-type) or has-student")
    return parser


def run(args) -> int:
    from ssrfnet.config import format_value, option_sources
    from ssrfnet.errors import ConfError
    from ssrfnet.models import STUDENT_MODEL_TYPES
    from ssrfnet.train.runconfig import check_training_options

    check_training_options("ssrfnet", args.model_type, option_sources(args))
    values = []
    for name in args.names:
        dest = name.lstrip("-").replace("-", "_")
        if name == "has-student":
            values.append(format_value(args.model_type in STUDENT_MODEL_TYPES))
        elif dest in cli.all_option_names() or name.lstrip("-") in cli.all_option_names():
            values.append(format_value(getattr(args, dest)))
        else:
            raise ConfError(f"{name}: no such option (known: every --key of the project, and "
                            f"{', '.join(DERIVED)})")
    print(" ".join(values))
    return 0


main = cli.main_of("conf_value", build_parser, run)

if __name__ == "__main__":
    sys.exit(main())
