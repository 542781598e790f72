"""The Go template engine: what tunasynctl --format users and log_dir configs see."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tunasync.gotemplate import ExecError, TemplateError, parse, render
from tunasync.models import SyncStatus
from tunasync.models.timefmt import ZERO_TIME

CST = timezone(timedelta(hours=8), "CST")
JOB = {
    "Name": "debian",
    "IsMaster": True,
    "Status": SyncStatus.SUCCESS,
    "LastUpdate": datetime(2024, 5, 1, 12, 34, 56, tzinfo=CST),
    "LastUpdateTs": 1714538096,
    "Scheduled": ZERO_TIME,
    "Upstream": "rsync://ftp.debian.org/debian/",
    "Size": "1.33T",
    "Retry": 0,
}


@pytest.mark.parametrize(
    ("tpl", "want"),
    [
        ("{{.Name}}", "debian"),
        ("/var/log/tunasync/{{.Name}}", "/var/log/tunasync/debian"),
        ("{{.Name}} {{.IsMaster}} {{.Status}} {{.Size}}", "debian true success 1.33T"),
        ("{{.LastUpdate}}", "2024-05-01 12:34:56 +0800 CST"),
        ("{{.Scheduled}}", "0001-01-01 00:00:00 +0000 UTC"),
        ("{{.LastUpdateTs}}", "1714538096"),
        ('{{printf "%-10s|%5s|" .Name .Size}}', "debian    |1.33T|"),
        ('{{printf "%d %03d %x %q %v %t" 42 7 255 "a" .Status .IsMaster}}', '42 007 ff "a" success true'),
        ('{{printf "%d" .Status}}', "2"),
        ('{{.Name | printf "<%s>"}}', "<debian>"),
        ('{{.Name | printf "%s-%s" "x"}}', "x-debian"),
        ("{{if .IsMaster}}master{{else}}slave{{end}}", "master"),
        ("{{if .Retry}}r{{else if .Size}}s{{else}}n{{end}}", "s"),
        ('{{if eq .Status "success" "failed"}}done{{end}}', "done"),
        ('{{if ne .Name "x"}}ne{{end}}{{if not .Retry}}!{{end}}', "ne!"),
        ("{{with .Size}}({{.}}){{else}}none{{end}}", "(1.33T)"),
        ("{{with .Retry}}({{.}}){{else}}none{{end}}", "none"),
        ("{{range $i, $c := .Tags}}{{if $i}},{{end}}{{$c}}{{end}}", "a,b,c"),
        ("{{range .Empty}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Tags}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}", "a"),
        ("{{$n := .Name}}{{with .Size}}{{$n}}={{.}}{{end}}", "debian=1.33T"),
        ("{{$.Name}}", "debian"),
        ("a  {{- .Name -}}  b", "adebianb"),
        ("a {{.Name}} b", "a debian b"),
        ("{{/* comment */}}x{{- /* trimmed */ -}} y", "xy"),
        ('{{.LastUpdate.Format "2006-01-02 15:04"}}', "2024-05-01 12:34"),
        ('{{.LastUpdate.Format "Mon Jan _2 03:04:05PM MST -07:00 Z0700 .000"}}',
         "Wed May  1 12:34:56PM CST +08:00 +0800 .000"),
        ("{{.LastUpdate.Unix}} {{.LastUpdate.Year}} {{.LastUpdate.Month}}", "1714538096 2024 May"),
        ("{{len .Name}} {{index .Tags 1}} {{slice .Name 0 3}}", "6 b deb"),
        ('{{print "a" 1 2 "b"}}|{{println 1 "x"}}', "a1 2b|1 x\n"),
        ('{{html "<a&b>"}} {{urlquery "a b&c"}}', "&lt;a&amp;b&gt; a+b%26c"),
        ("{{`raw {{x}}`}}", "raw {{x}}"),
        ("{{printf \"%5.2f|%g|%v\" 3.14159 1e21 2.5}}", " 3.14|1e+21|2.5"),
    ],
)
def test_renders_like_go(tpl, want):
    data = dict(JOB, Tags=["a", "b", "c"], Empty=[])
    assert render(tpl, data) == want


def test_printf_argument_mistakes_print_go_markers():
    assert render('{{printf "%d %s" 1}}', {}) == "1 %!s(MISSING)"
    assert render('{{printf "%d" 1 "x"}}', {}) == "1%!(EXTRA string=x)"
    assert render('{{printf "%d" .Name}}', JOB) == "%!d(string=debian)"


def test_html_mode_escapes_values_like_go_html_template():
    out = render("/var/log/{{.Name}}/x+y", {"Name": "c++ & <\"'>\0"}, html=True)
    # literal template text is not escaped, values are
    assert out == "/var/log/c&#43;&#43; &amp; &lt;&#34;&#39;&gt;\ufffd/x+y"


def test_html_mode_truncates_silently_at_a_missing_field():
    assert render("/log/{{.Name}}/{{.Nope}}/latest", JOB, html=True) == "/log/debian/"


def test_text_mode_reports_a_missing_field_with_go_text():
    with pytest.raises(ExecError) as ei:
        render("x\n  {{.Name}} {{.Nope}}", JOB, type_name="internal.WebMirrorStatus")
    assert str(ei.value) == (
        'template: :2:14: executing "" at <.Nope>: can\'t evaluate field Nope in type internal.WebMirrorStatus'
    )
    assert ei.value.partial == "x\n  debian "


def test_strict_html_mode_raises():
    with pytest.raises(ExecError):
        render("{{.Nope}}", JOB, html=True, strict=True)


def test_field_of_a_string_is_an_error():
    with pytest.raises(ExecError, match="can't evaluate field Foo in type string"):
        render("{{.Name.Foo}}", JOB)


@pytest.mark.parametrize(
    ("tpl", "reason"),
    [
        ("{{.Name", "unclosed action"),
        ("{{if .Name}}x", "unexpected EOF"),
        ("x{{end}}", "unexpected {{end}}"),
        ("{{nosuch .Name}}", 'function "nosuch" not defined'),
        ("{{}}", "missing value for command"),
        ("{{break}}", "{{break}} outside {{range}}"),
        ('{{"abc}}', "unterminated quoted string"),
        ("{{/* x }}", "unclosed comment"),
        ('{{template "x"}}', "not supported"),
    ],
)
def test_parse_errors_name_the_line_and_reason(tpl, reason):
    with pytest.raises(TemplateError) as ei:
        parse(tpl, "fmt")
    assert str(ei.value).startswith("template: fmt:1: ")
    assert reason in str(ei.value)


def test_parsed_template_is_reusable_over_many_items():
    t = parse("{{.Name}}:{{.Status}}")
    rows = [{"Name": n, "Status": s} for n, s in (("a", SyncStatus.FAILED), ("b", SyncStatus.SYNCING))]
    assert [t.execute(r) for r in rows] == ["a:failed", "b:syncing"]


def test_status_none_is_false_like_go_zero_value():
    assert render("{{if .Status}}set{{else}}zero{{end}}", {"Status": SyncStatus.NONE}) == "zero"
    # a time is a struct: always true, even the zero time
    assert render("{{if .T}}yes{{end}}", {"T": ZERO_TIME}) == "yes"


def test_objects_with_attributes_work_as_data():
    class Mirror:
        Name = "aosp"

    assert render("/var/log/{{.Name}}", Mirror(), html=True) == "/var/log/aosp"


def test_nil_prints_as_nil_in_text_and_nothing_in_html():
    assert render("[{{.X}}]", {"X": None}) == "[<nil>]"
    assert render("[{{.X}}]", {"X": None}, html=True) == "[]"
