"""One command-line convention for every launch script, and the plumbing flags → ``run``.

An experiment script is its docstring and one call, ``run_experiment(experiment.run, ...)``; other
scripts (``reproduce``, ``budget_report``) call ``run_app``. Every one of them:

* ``--help`` / ``-h`` prints the script's docstring and its own flags (required ones marked) and
  exits 0; ``--helpfull`` lists absl's and JAX's flags too.
* ``--show_config`` prints the config a run would use (the preset plus every ``--config.FIELD``
  override, as the run's ``config.json``) and exits 0: nothing runs and nothing is written.
* Exit 2 with one ``error: …`` line for any usage error: an unknown flag or config field (with
  ml_collections' "did you mean"), a bad value, an unknown preset, a ``--workdir`` that is not a
  directory, a config the experiment refuses (``ValueError``); nothing is written. Exit 1 is a
  crash, with its traceback.
* A ``--workdir`` that holds a finished run of the same config (``io.finished_summary``) is left
  as it was: its summary is printed and nothing is run or rewritten (exit 0). A new ``--workdir``
  runs the config again.
* JAX's and absl's INFO lines ("Unable to initialize backend 'tpu'", ...) are hidden unless
  ``--verbosity`` is given.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn

from absl import app, flags
from absl import logging as absl_logging

from hidden_talents import distributed, io

EXIT_USAGE = 2
_OWN_HELP = ("help", "helpshort", "h", "?")  # answered with the script's own flags
_ABSL_HELP = ("helpfull", "helpxml")  # absl prints these, then exits 1
# Flags a script needs but that are not absl-required (absl would refuse --help and --show_config
# without them): marked "(required)" in --help and checked by ``require`` / ``check_workdir``.
_REQUIRED: set[str] = set()
_METAVAR = {"workdir": "DIR", "config": "FILE:PRESET", "coordinator_address": "HOST:PORT",
            "num_processes": "N", "process_id": "I", "heartbeat_timeout": "SECONDS",
            "only": "NAME[,NAME...]"}


def fail(message: str) -> NoReturn:
  """A usage error: one ``error: …`` line on stderr, exit code 2."""
  print(f"error: {'; '.join(s.strip() for s in str(message).splitlines() if s.strip())}",
        file=sys.stderr)
  sys.exit(EXIT_USAGE)


def quiet_logs() -> None:
  """Hides INFO log lines (JAX's "Unable to initialize backend 'tpu'", absl's ``I0101 …`` lines)
  unless ``--verbosity`` was given; warnings and errors still show."""
  if not flags.FLAGS["verbosity"].present:
    absl_logging.set_verbosity(absl_logging.WARNING)


def _exception_text(e: BaseException) -> str:
  """The message of ``e``, unwrapping ml_collections' AttributeError(KeyError(message))."""
  msg: Any = e
  while isinstance(msg, BaseException) and msg.args:
    msg = msg.args[0]
  return str(msg) if not isinstance(msg, BaseException) else ""


def _config_override_paths(argv: Sequence[str]) -> list[str]:
  """The field paths of the ``--config.PATH=VALUE`` overrides in ``argv``."""
  paths = []
  for a in argv:
    m = re.match(r"^--?(?:no)?config\.([^=]+)", a)
    if m:
      paths.append(m.group(1))
  return paths


def unknown_field_line(e: BaseException, argv: Sequence[str]) -> str | None:
  """One line for ml_collections' error on an override of a field the config does not have;
  None when ``e`` names no overridden field (then it is a bug, e.g. in the config file)."""
  lines = _exception_text(e).splitlines()
  key = lines[0].strip().strip("'\"") if lines else ""
  paths = [p for p in _config_override_paths(argv) if key in p.split(".")]
  if not paths:
    return None
  field = paths[0]
  hint = re.search(r'Did you mean "([^"]+)"', "\n".join(lines[1:]))
  suggestion = f" (did you mean {hint.group(1)!r}?)" if hint else ""
  return (f"--config.{field}: the config has no field {key!r}{suggestion}; --show_config lists "
          "the fields")


def flag_error_line(e: flags.Error) -> str:
  """One line for absl's error on a bad flag; an embedded traceback (a config file that raised,
  e.g. on an unknown preset) is cut to its flag and its final message."""
  lines = [s.strip() for s in str(e).splitlines() if s.strip()]
  if any(s.startswith("Traceback") for s in lines):
    head = re.sub(r":?\s*Error whilst parsing config file:?$", "", lines[0])
    last = re.sub(r"^[\w.]*(Error|Exception): ", "", lines[-1])
    return f"{head}: {last}"
  return "; ".join(lines)


def _requested(argv: Sequence[str], names: Sequence[str]) -> bool:
  """Whether a flag of ``names`` (e.g. help flags) is among the flags of ``argv``."""
  for a in argv[1:]:
    if a == "--":
      break
    if a.startswith("-") and a.lstrip("-").split("=")[0] in names:
      return True
  return False


def parse_guarded(parse: Callable[[], Any], argv: Sequence[str]) -> Any:
  """``parse()`` (absl's flag parsing or a config flag's definition, which parses the default
  config and its overrides) with every flag error turned into one ``error:`` line, exit 2."""
  try:
    return parse()
  except flags.Error as e:
    fail(f"{flag_error_line(e)} (see --help)")
  except (AttributeError, KeyError) as e:  # ml_collections: an override of an unknown field
    line = unknown_field_line(e, argv)
    if line is None:
      raise
    fail(line)
  except TypeError as e:  # ml_collections: --config.a.b where a is no group of fields
    nested = [p for p in _config_override_paths(argv) if "." in p]
    if not nested:
      raise
    which = f"--config.{nested[0]}" if len(nested) == 1 else "a --config.FIELD override"
    fail(f"{which} does not fit the config ({e}); --show_config lists the fields")
  except OSError as e:  # ml_collections: the config file cannot be loaded
    fail(config_load_line(e))


def config_load_line(e: OSError) -> str:
  """One line for a config file ml_collections could not load (its last line says why)."""
  lines = [s.strip() for s in str(e).splitlines() if s.strip()]
  return f"--config: cannot load the config file: {lines[-1] if lines else e}"


def loaded_config(holder: flags.FlagHolder) -> Any:
  """The config flag's value; a ``ValueError`` when its file could not be loaded (ml_collections
  defers that error to the first use of the config)."""
  try:
    io.to_jsonable(holder.value)
  except OSError as e:
    raise ValueError(config_load_line(e)) from None
  return holder.value


def parse_flags(argv: list[str], print_help: Callable[[], None]) -> list[str]:
  """absl's parsing with the convention above: ``--help``/``-h`` → ``print_help()``, exit 0;
  ``--helpfull`` exits 0 too; every bad flag is one line and exit 2."""
  if _requested(argv, _OWN_HELP):
    print_help()
    sys.exit(0)
  try:
    return parse_guarded(lambda: flags.FLAGS(argv), argv)
  except SystemExit as e:  # absl's --helpfull prints the help, then exits 1: asking is no error
    if e.code == 1 and _requested(argv, _ABSL_HELP):
      sys.exit(0)
    raise


def format_help(doc: str | None, names: Sequence[str],
                notes: Sequence[tuple[str, str]] = ()) -> str:
  """The script's docstring, then its own flags ``names`` in order (required ones marked), then
  ``notes`` (``(syntax, help)`` pairs for what is not an absl flag)."""
  def entry(syntax: str, text: str) -> list[str]:
    return [f"  {syntax}", textwrap.fill(text, width=100, initial_indent="      ",
                                         subsequent_indent="      ")]
  out = [textwrap.dedent(doc or "").strip(), "", "flags:"]
  for name in names:
    f = flags.FLAGS[name]
    text = f.help
    if f.boolean:
      syntax = f"--[no]{name}"
    else:
      enum = getattr(f.parser, "enum_values", None)
      if enum:  # absl writes the choices into the help text too: once is enough
        text = text.removeprefix(f"<{'|'.join(enum)}>: ")
      syntax = f"--{name}=" + ("|".join(enum) if enum else _METAVAR.get(name, "VALUE"))
    if name in _REQUIRED:
      syntax += "  (required)"
    elif f.default is not None and f.default is not False and f.default != []:
      syntax += f"  (default: {f.default_as_str})"
    out += entry(syntax, text)
  for syntax, text in notes:
    out += entry(syntax, text)
  out += entry("--helpfull", "Every flag, absl's and JAX's too.")
  return "\n".join(out)


def mark_required(holder: flags.FlagHolder) -> flags.FlagHolder:
  """Marks a flag "(required)" in --help; ``require`` checks it."""
  _REQUIRED.add(holder.name)
  return holder


def require(holder: flags.FlagHolder) -> Any:
  """The flag's value; a ``ValueError`` (→ exit 2) when it was not given."""
  if holder.value is None:
    raise ValueError(f"--{holder.name} is required (see --help)")
  return holder.value


def run_app(main: Callable[[], None], doc: str | None, flag_names: Sequence[str],
            notes: Sequence[tuple[str, str]] = ()) -> NoReturn:
  """Runs ``main()`` under absl with the convention of this module: a ``ValueError`` from it is
  a usage error (one line, exit 2); any other exception is a crash (traceback, exit 1)."""
  def _main(argv: list[str]) -> None:
    if len(argv) > 1:
      fail(f"unexpected arguments {argv[1:]}: every setting is a --flag=value (see --help)")
    quiet_logs()
    try:
      main()
    except ValueError as e:
      fail(str(e))
    except BrokenPipeError:  # stdout piped into e.g. `head`, which has exited: no traceback
      os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
      sys.exit(1)

  app.run(_main, flags_parser=lambda argv: parse_flags(
      argv, lambda: print(format_help(doc, flag_names, notes))))
  sys.exit(0)  # app.run exits itself; this keeps the NoReturn honest


def define_workdir_flag(help_text: str | None = None) -> flags.FlagHolder:
  return mark_required(flags.DEFINE_string(
      "workdir", None, help_text or
      "Run directory: config.json, results.npz, summary.json, PNG figures and checkpoints are "
      "written here (created if absent). Rerunning the same command resumes an interrupted run; "
      "a finished run of the same config is left as it was (its summary is printed)."))


def check_workdir(path: str | None) -> str:
  """``--workdir``'s value if it is, or can be created as, a directory; else a ``ValueError``.
  Creates nothing."""
  if path is None:
    raise ValueError("--workdir is required (see --help)")
  if not path.strip():
    raise ValueError("--workdir is empty")
  if os.path.exists(path):
    if not os.path.isdir(path):
      raise ValueError(f"--workdir {path!r} is a file, not a directory")
    return path
  parent = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise ValueError(f"--workdir {path!r} cannot be created: {parent!r} is a file")
  if not os.access(parent, os.W_OK | os.X_OK):
    raise ValueError(f"--workdir {path!r} cannot be created: no write permission in {parent!r}")
  return path


def resolve_config_file(config_file: str) -> str:
  """``config_file`` (``launch/configs/<x>.py``) as given when it exists from the working
  directory (as in the README's commands), else the one in this checkout."""
  if os.path.exists(config_file):
    return config_file
  return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), config_file)


def config_presets(config_file: str) -> list[str]:
  """The presets a config file's ``get_config`` accepts (its ``preset == "NAME"`` branches)."""
  with open(config_file) as f:
    return re.findall(r"""preset == ["'](\w+)["']""", f.read())


class DistributedFlags(NamedTuple):
  mode: flags.FlagHolder
  coordinator_address: flags.FlagHolder
  num_processes: flags.FlagHolder
  process_id: flags.FlagHolder
  heartbeat_timeout: flags.FlagHolder


def define_distributed_flags() -> DistributedFlags:
  """Flags of a multi-process (multi-host) sweep (``hidden_talents.distributed``; BUILD.md)."""
  return DistributedFlags(
      flags.DEFINE_enum(
          "distributed", "auto", ["auto", "on", "off"],
          "Run as one process of several (jax.distributed): 'on', 'off', or 'auto' = on when the "
          "environment describes a multi-process launch (JAX_COORDINATOR_ADDRESS, or Slurm / "
          "Open MPI with more than one task)."),
      flags.DEFINE_string(
          "coordinator_address", None,
          "host:port of process 0's coordinator (every process gives the same); default: from "
          "the cluster environment."),
      flags.DEFINE_integer("num_processes", None,
                           "Number of processes; default: from the cluster environment.",
                           lower_bound=1),
      flags.DEFINE_integer("process_id", None,
                           "This process's index in [0, num_processes); default: from the "
                           "cluster environment.", lower_bound=0),
      flags.DEFINE_integer(
          "heartbeat_timeout", 60,
          "Seconds after which the other processes abort (non-zero exit) when one process has "
          "died; rerun the same command to resume from the last checkpoint.", lower_bound=1))


def maybe_initialize_distributed(f: DistributedFlags | None) -> bool:
  """Starts jax.distributed when the flags (or the environment, in 'auto') ask for it."""
  if f is None or f.mode.value == "off":
    return False
  explicit = f.coordinator_address.value is not None or f.num_processes.value is not None
  if f.mode.value == "auto" and not (explicit or distributed.cluster_env_detected()):
    return False
  distributed.initialize(f.coordinator_address.value, f.num_processes.value,
                         f.process_id.value, heartbeat_timeout_seconds=f.heartbeat_timeout.value)
  return True


def print_json(obj: Any) -> None:
  print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def run_experiment(run: Callable[[Any, str], dict], doc: str | None, config_file: str,
                   distributed: bool = False) -> NoReturn:
  """The whole command line of an experiment script:
  ``python -m launch.<x> --config=<config_file>:PRESET --workdir=DIR [--config.FIELD=VALUE]``.

  Calls ``run(config, workdir)`` and prints the summary it returns, unless ``--show_config`` or a
  finished run of the same config in ``--workdir`` (module docstring). With ``distributed`` (an
  experiment that runs a sweep) the jax.distributed flags are defined, jax.distributed is started
  when they ask for it, and only process 0 writes files and prints the summary.
  """
  from ml_collections import config_flags

  config_file = resolve_config_file(config_file)
  presets = config_presets(config_file)
  config = parse_guarded(lambda: config_flags.DEFINE_config_file(
      "config", f"{config_file}:quick",
      f"Config file and preset, FILE:PRESET (presets: {', '.join(presets)}).",
      lock_config=True), sys.argv)
  workdir = define_workdir_flag()
  show = flags.DEFINE_bool(
      "show_config", False, "Print the config (the preset with every --config.FIELD override, "
      "as config.json) and exit: nothing runs and nothing is written.")
  dist = define_distributed_flags() if distributed else None
  names = ["workdir", "config", "show_config", *(h.name for h in dist or ())]

  def main() -> None:
    cfg = loaded_config(config)
    if show.value:
      print_json(io.to_jsonable(cfg))
      return
    wd = check_workdir(workdir.value)
    done = io.finished_summary(wd, cfg)
    if done is not None:
      print(f"note: {wd} holds a finished run of this config: nothing was run or rewritten "
            "(a new --workdir runs it again)", file=sys.stderr)
      print_json(done)
      return
    maybe_initialize_distributed(dist)
    summary = run(cfg, wd)
    if io.is_writer():
      print_json(summary)

  run_app(main, doc, names, notes=[(
      "--config.FIELD=VALUE", "Override one field of the preset, e.g. --config.seed=1 or "
      "--config.nus='(0.1,0.3)' (a tuple); --show_config lists the fields and their values.")])
