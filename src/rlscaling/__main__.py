from rlscaling.cli import main

raise SystemExit(main())
