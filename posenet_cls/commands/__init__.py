"""One module per ``posenet-cls`` verb: ``register(subparsers)`` adds it, ``run(args)`` does it."""
