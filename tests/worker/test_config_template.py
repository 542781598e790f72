"""log_dir templates over the Go template engine (docs/compat.md §4.4, quirk 24)."""

import pytest

from tunasync.worker.config_template import render


def test_fields_and_go_formatting():
    fields = {"Name": "AOSP", "Interval": 120, "UseIPv6": True, "RsyncOptions": ["-a", "-b"], "Env": {"B": "2", "A": "1"}}
    assert render("/l/{{.Name}}/{{ .Interval }}", fields).text == "/l/AOSP/120"
    assert render("{{.UseIPv6}} {{.RsyncOptions}} {{.Env}}", fields).text == "true [-a -b] map[A:1 B:2]"
    assert render("a {{- .Name -}} b{{/* comment */}}", fields).text == "aAOSPb"
    assert render("{{if .UseIPv6}}v6/{{end}}{{.Name}}", fields).text == "v6/AOSP"


def test_html_escaping_of_values_not_of_text():
    assert render("<{{.Name}}>", {"Name": "c++ & 'x' \"y\" <z>\0"}).text == (
        "<c&#43;&#43; &amp; &#39;x&#39; &#34;y&#34; &lt;z&gt;\ufffd>"
    )


def test_unknown_field_truncates_like_go():
    r = render("/l/{{.Name}}/{{.Nope}}/rest", {"Name": "n"})
    assert r.text == "/l/n/" and "can't evaluate field Nope" in r.error


@pytest.mark.parametrize("bad", ["{{.Name", "{{}}", "{{.Name}", "{{.Name | nosuchfunc}}"])
def test_parse_errors(bad):
    with pytest.raises(ValueError):
        render(bad, {"Name": "n"})
