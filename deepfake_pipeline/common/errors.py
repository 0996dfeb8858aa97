"""The one base of the errors a user can act on: a wrong argument, a missing, stale or damaged
file, a refused input. `cli.common.guarded_main` catches it once and ends the run with its
message as one `error:` line on standard error and its `exit_code` (2: fix what the line says
and rerun). Each subclass keeps its older base (ValueError, RuntimeError, FileNotFoundError), so
code that caught that still does; an exception of no PipelineError class is a bug and keeps its
traceback."""


class PipelineError(Exception):
    exit_code = 2


class InputError(PipelineError, ValueError):
    """A file or an argument the user gave that cannot be used (a malformed protocol, metadata or
    CSV line, an unknown split, a clip listed twice); the message names it and says what to fix.
    ValueError stays a base, so callers that caught the plain ValueError these readers raised
    before still do."""
