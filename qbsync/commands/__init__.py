"""One module per command group. Each module exposes `register(app)`; `qbsync.cli`
lists them. Commands stay thin: parse options, call the library, render output."""
