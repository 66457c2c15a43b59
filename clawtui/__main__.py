"""`python -m clawtui`."""

from clawtui.cli import main

raise SystemExit(main())
