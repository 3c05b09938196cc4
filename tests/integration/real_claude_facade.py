"""A unittest base for facade tests with the real claude CLI behind ksid (against the class's Anthropic-API
stub): its own HOME for the CLI, the facade on a free port, `ksid_config_extra` YAML added to the config, and
post() for one JSON request."""
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from anthropic_stub import StubServerMixin  # noqa: E402
from ksid_harness import KsidTestCase, free_port  # noqa: E402


def post_json(port, path, body, headers=None, timeout=90):
    """(status, headers, raw body) of one POST of `body` as JSON to the facade on `port`."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST", data=json.dumps(body).encode(),
                                 headers=dict({"Content-Type": "application/json",
                                               "anthropic-version": "2023-06-01"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class RealClaudeFacadeCase(StubServerMixin, KsidTestCase):
    ksid_config_extra = ""

    def setUp(self):
        self.home = tempfile.mkdtemp(prefix="ksid-claude-home-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.ksid_env = dict(self.ksid_claude_env(self.home), KSID_RUN_TIME_LIMIT="60")
        self.ksid_config = self.ksid_config_extra + f"facade:\n  enabled: true\n  port: {self.port}\n" + \
            getattr(self, "facade_config", "")
        super().setUp()

    def tearDown(self):
        super().tearDown()
        shutil.rmtree(self.home, ignore_errors=True)

    def post(self, path, body, headers=None):
        """(status, headers, parsed JSON body)."""
        status, h, raw = post_json(self.port, path, body, headers)
        return status, h, json.loads(raw)
