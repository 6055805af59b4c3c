"""``pdmctl config check`` through Typer's CliRunner: a bad plant file is one line on stderr, exit 2."""

import typer
import yaml
from typer.testing import CliRunner

from pdm.cli.main import app, main
from pdm.errors import ConfigError
from tests.helpers.plants import plant_dict

# ``main`` is what the ``pdmctl`` script runs: it turns a ConfigError into one line and exit 2.
pdmctl = typer.Typer()


@pdmctl.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def _pdmctl(ctx: typer.Context) -> None:
    main(list(ctx.args))


def _bad_file(tmp_path, text: str):
    path = tmp_path / "plants.yaml"
    path.write_text(text)
    return path


def test_a_bad_node_id_is_one_line_with_exit_2_and_no_traceback(tmp_path):
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    data["companies"][0]["sites"][0]["endpoints"][0]["nodes"][0]["node_id"] = "ns=abc;s=x"
    path = _bad_file(tmp_path, yaml.safe_dump(data))
    result = CliRunner().invoke(pdmctl, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: companies[0].sites[0].endpoints[0].nodes[0].node_id = 'ns=abc;s=x'")
    assert "namespace index" in lines[0]
    assert result.stdout == ""


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 12)]
    path = _bad_file(tmp_path, "\n".join(lines) + "\ncompanies: *a11\n")
    result = CliRunner().invoke(pdmctl, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "anchors (&name) are not allowed" in result.stderr


def test_a_secret_in_password_env_is_not_echoed(tmp_path):
    data = plant_dict({"acme": [("P-1", "centrifugal_pump")]})
    data["companies"][0]["sites"][0]["endpoints"][0].update(
        auth_method="username", username="u", password_env="Tr0ub4dor&3"
    )
    path = _bad_file(tmp_path, yaml.safe_dump(data))
    result = CliRunner().invoke(pdmctl, ["config", "check", str(path)])
    assert result.exit_code == 2 and "Tr0ub4dor" not in result.output
    assert "password_encrypted" in result.stderr and result.stderr.count("\n") == 1


def test_the_bare_typer_app_raises_the_config_error_itself(tmp_path):
    path = _bad_file(tmp_path, "companies: []\ncompanies: []\n")
    result = CliRunner().invoke(app, ["config", "check", str(path)])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "duplicate key 'companies'" in str(result.exception)


def test_a_good_file_passes(tmp_path):
    path = _bad_file(tmp_path, yaml.safe_dump(plant_dict({"acme": [("P-1", "centrifugal_pump")]})))
    result = CliRunner().invoke(pdmctl, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "OK — 1 companies, 1 assets" in result.stdout
