from portal_app.cli import main

raise SystemExit(main())
