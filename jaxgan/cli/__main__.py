"""`python -m jaxgan.cli ...`: the `jaxgan` command."""

from . import main

raise SystemExit(main())
