"""posenet_cls in the browser: the static site written by ``posenet-cls export --web`` (see :mod:`posenet_cls.web.site`)."""
