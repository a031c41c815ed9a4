"""Error types shared by every stage."""


class UserError(Exception):
    """Bad input from the user (config, data file, command line).

    The CLI prints it as one line naming the key / file / field and what was expected, with no
    traceback, and exits with status 2.
    """
