from passport_verify.cli import main

raise SystemExit(main())
