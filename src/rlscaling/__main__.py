import faulthandler

from rlscaling.cli import main

# a guard: engines that start workers with spawn (vLLM) re-import the main module in each worker
if __name__ == "__main__":
    # a job that dies of a signal in native code (SIGSEGV, SIGABRT, ...) writes every thread's Python
    # stack to stderr, which the workflow's rules send to the job's log
    faulthandler.enable()
    raise SystemExit(main())
