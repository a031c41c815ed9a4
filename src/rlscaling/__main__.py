from rlscaling.cli import main

# a guard: engines that start workers with spawn (vLLM) re-import the main module in each worker
if __name__ == "__main__":
    raise SystemExit(main())
