"""The integration contract (CONTRACT.md): the same cases for every integration in integrations.REGISTRY.

In the spirit of vdirsyncer's StorageTests, each case is parametrized by registry name, so a new
integration is held to all of them once its stand-in source is added to tests/contract_standins.py
(a registry entry without one fails here, saying what to add). Two layers:

1. The declaration, with no I/O: prerequisites, check results naming them, the connection fields as
   properties of the schema of the connections' path in Halo's OpenAPI document (sandbox/openapi_subset.json),
   local settings the window can show, one of read / work, the words the window and the log use.
2. Behaviour through the core (runner.run_all: discover, sync or work, write back) against the stand-in
   source and the strict Halo sandbox: a first run creates and writes Last Sync; an unchanged run writes
   no record and reads none by id; a dry run writes nothing; a read that fails part way writes nothing
   and fails with a sentence; a lost state file makes no duplicate; every request is accepted; CHECK
   passes against the stand-in. A job integration: a dry run runs nothing; an entry runs once.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any, Iterator

import pytest

from halointegrator.engine.checking import CORE_PREREQUISITES, check_all
from halointegrator.engine.model import RUN, WRITES
from halointegrator.engine.runner import RunOptions, RunResult, RunSetup, last_error_text, now_for_halo, run_all
from halointegrator.errors import EXIT_INTEGRATION_FAILED, EXIT_OK
from halointegrator.gui.widgets import NUMBER_KINDS
from halointegrator.halo.client import HaloClient
from halointegrator.local.settings import HaloSettings, shared_key
from integrations import REGISTRY
from sandbox.halo_server import HaloSandbox, load_subset
from sandbox.halo_store import CONTROL, RESOURCES
from sandbox.halo_strict import DEFAULT_SUBSET_PATH
from tests.contract_standins import CLIENT_ID, STANDINS, StandIn, missing_standin
from tests.core_helpers import context_for
from tests.e2e_world import normalised
from tests.fake_halo import FakeHalo

SUBSET = load_subset(str(DEFAULT_SUBSET_PATH))
WINDOW_KINDS = frozenset({"text", "secret", "path", "bool", *NUMBER_KINDS})  # what SettingsForm draws
SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key")
SYNC = [name for name, integration in REGISTRY.items() if integration.read is not None]
JOBS = [name for name, integration in REGISTRY.items() if integration.work is not None]
TABLE_OF_PATH = {resource.path.strip("/").casefold(): resource.table for resource in (*RESOURCES, CONTROL)}
NOT_A_SENTENCE = re.compile(r"Traceback|File \"|\w+(Error|Exception)\(|<\w+ object at 0x")


def with_standin_marks(names: list[str]) -> list[Any]:
    """Registry names as parameters, each with its stand-in's marks (slapd, postgres, ...)."""
    return [pytest.param(name, marks=STANDINS[name].marks if name in STANDINS else ()) for name in names]


def standin_class(name: str) -> type[StandIn]:
    if name not in STANDINS:
        pytest.fail(missing_standin(name))
    return STANDINS[name]


# ---- 1. the declaration ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_integration_has_a_stand_in_source(name: str) -> None:
    assert name in STANDINS, missing_standin(name)
    stale = set(STANDINS) - set(REGISTRY)
    assert not stale, f"stand-ins for integrations no longer registered: {sorted(stale)}"


@pytest.mark.parametrize("name", list(REGISTRY))
def test_it_declares_what_it_is_in_words_and_exactly_one_of_read_or_work(name: str) -> None:
    integration = REGISTRY[name]
    assert integration.name == name
    assert (integration.read is None) != (integration.work is None), "declare read (a sync) or work (a job), not both"
    for words in (integration.title, integration.description, integration.connections.noun):
        assert isinstance(words, str) and words.strip()
    named = integration.connections.name_of({"id": 7})
    assert isinstance(named, str) and named.strip()


@pytest.mark.parametrize("name", list(REGISTRY))
def test_prerequisite_keys_are_unique_and_every_label_says_something(name: str) -> None:
    prerequisites = REGISTRY[name].prerequisites
    keys = [prerequisite.key for prerequisite in prerequisites]
    assert keys and len(set(keys)) == len(keys), keys
    assert not set(keys) & {core.key for core in CORE_PREREQUISITES}, "the core adds 'enabled' and 'allowed' itself"
    labels = [prerequisite.label.strip() for prerequisite in prerequisites]
    assert all(labels) and len(set(labels)) == len(labels), labels


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_check_result_names_a_declared_prerequisite(name: str, tmp_path, monkeypatch) -> None:
    """Against a fake Halo and an input that fails at the first step: no I/O, no write, and every
    prerequisite answered (the failure, or a step that did not run) by its key."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no program is found, none is started
    records, record, local = standin_class(name).EARLY
    fake = FakeHalo(records)
    results = REGISTRY[name].check(context_for(fake, local=local), dict(record))
    keys = [prerequisite.key for prerequisite in REGISTRY[name].prerequisites]
    assert [result.label for result in results if result.prerequisite not in keys] == []
    assert sorted(set(keys) - {result.prerequisite for result in results}) == []
    assert any(not result.ok for result in results), "the input fails early, so some step must fail"
    assert all(result.detail.strip() for result in results if not result.ok), "a cross says why"
    assert fake.posts == []


@pytest.mark.parametrize("name", list(REGISTRY))
def test_the_connection_fields_are_properties_of_the_schema_of_its_path(name: str) -> None:
    source = REGISTRY[name].connections
    template = SUBSET.template("/" + source.path.casefold())
    assert template, f"{source.path} is not a path of Halo's document (tools/extract_openapi_subset.py WANTED_PATHS)"
    schema = SUBSET.tag_schema(template)
    properties = SUBSET.properties(schema)
    named = [field for field in (source.enabled_field, *source.allowed_fields, source.lastsync_field,
                                 source.lasterror_field) if field]
    assert [field for field in named if field not in properties] == [], f"not properties of {schema}"
    if source.enabled_field:
        assert properties[source.enabled_field]["type"] == "boolean"
    for field in source.allowed_fields:  # a text of client ids, or KeyPairs whose "value" is one
        kind = properties[field]
        assert kind["type"] == "string" or "value" in SUBSET.properties(kind["items"]["ref"]), field
    assert properties[source.lastsync_field] == {"type": "string", "format": "date-time"}
    assert properties[source.lasterror_field]["type"] == "string"
    assert "post" in SUBSET.methods(template) and SUBSET.body_item_schema(template) == schema
    write_back = {"id": 7, source.lastsync_field: now_for_halo(), source.lasterror_field: "The query failed."}
    SUBSET.check_record(schema, write_back, f"{source.path} write-back")  # raises StrictError naming the field


@pytest.mark.parametrize("name", list(REGISTRY))
def test_local_settings_are_ones_the_window_can_show_and_secrets_are_secret(name: str) -> None:
    integration = REGISTRY[name]
    every = (*integration.local_settings, *integration.shared_settings)  # one key, one place
    keys = [setting.key for setting in every]
    assert len(set(keys)) == len(keys), keys
    for setting in every:
        assert setting.label.strip(), setting.key
        assert setting.kind in WINDOW_KINDS, f"{setting.key}: the window draws {sorted(WINDOW_KINDS)}"
        if any(word in setting.key.casefold() for word in SECRET_WORDS):
            assert setting.kind == "secret", f"{setting.key} holds a secret: kind 'secret' keeps it encrypted, masked"
        if setting.kind == "secret":
            assert setting.default is None, f"{setting.key}: a secret has no default"
        if setting.kind == "bool":
            assert setting.default in (None, True, False), setting.key
    if integration.read is not None:  # the mass-deactivation guard's refusal tells the admin to tick this
        assert any(setting.key == "allow_mass_deactivation" and setting.kind == "bool"
                   for setting in integration.local_settings)


# ---- 2. behaviour through the core, against the stand-in source ------------------------------------------

class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class World:
    """One integration, its stand-in source, the strict Halo sandbox, and the state that outlives a run."""

    def __init__(self, name: str, standin: StandIn, halo: HaloSandbox, client: HaloClient, log: logging.Logger,
                 handler: ListHandler) -> None:
        self.name, self.integration, self.standin = name, REGISTRY[name], standin
        self.halo, self.client, self.log, self.handler = halo, client, log, handler
        self.states: dict[str, Any] = {}  # what the state file beside the config holds
        self.refused: list[str] = []  # every request the sandbox refused, over all runs
        self.path = self.integration.connections.path.casefold()

    def run(self, *, dry_run: bool = False) -> RunResult:
        """One run as AUTO does it (discover, sync or work, write back); the request log starts afresh."""
        self.halo.clear_requests()
        setup = RunSetup(client_id=CLIENT_ID, log=self.log, options=RunOptions(dry_run=dry_run),
                         local_settings=self.kept_settings(), states=self.states,
                         services=self.standin.services, config_path=self.standin.folder / "HaloIntegrator.config")
        result = run_all(self.client, {self.name: self.integration}, setup)
        self.refused += [f"{entry['method']} {entry['path']} -> {entry['status']}" for entry in self.halo.requests
                         if (entry["status"] or 500) >= 400]
        return result

    def keys(self) -> list[str]:
        return [f"{self.name}:{connection_id}" for connection_id in self.standin.connection_ids]

    def kept_settings(self) -> dict[str, dict[str, Any]]:
        """Config.connections: each connection's local settings, and the integration's shared ones."""
        kept = {key: dict(self.standin.local) for key in self.keys()}
        return {**kept, shared_key(self.name): dict(self.standin.shared)}

    def check(self) -> list:
        return check_all(self.client, {self.name: self.integration}, client_id=CLIENT_ID, log=self.log,
                         local_settings=self.kept_settings(),
                         config_path=self.standin.folder / "HaloIntegrator.config")

    # ---- what Halo holds, and what it was asked -----------------------------------------------------
    def connections(self) -> list[dict[str, Any]]:
        table = TABLE_OF_PATH[self.path]
        return [self.halo.get(table, connection_id) or {} for connection_id in self.standin.connection_ids]

    def last_syncs(self) -> list[str]:
        return [str(record.get(self.integration.connections.lastsync_field) or "") for record in self.connections()]

    def last_errors(self) -> list[str]:
        return [str(record.get(self.integration.connections.lasterror_field) or "") for record in self.connections()]

    def records(self) -> dict[str, list[str]]:
        """Halo's users and assets as sorted text (ids and timestamps left out)."""
        return {table: sorted(normalised(record) for record in self.halo.records(table))
                for table in ("users", "assets")}

    def ours(self) -> list[str]:
        """The source identities of the users and assets this integration wrote (one per record)."""
        return sorted(f"{table}:{identity}" for table in ("users", "assets") for record in self.halo.records(table)
                      if (identity := self.standin.identity(table, record)))

    def posts(self) -> list[str]:
        return [entry["path"] for entry in self.halo.requests
                if entry["method"] == "POST" and not entry["path"].startswith("/auth")]

    def record_writes(self) -> list[str]:
        """POSTs other than the write-back of Last Sync / Last Error to the connections' own path."""
        return [path for path in self.posts() if path.casefold() != f"/api/{self.path}"]

    def reads_by_id(self) -> list[str]:
        """GETs of one record by id, the connections' own details aside."""
        by_id = re.compile(r"/api/(.+)/\d+$")
        return [entry["path"] for entry in self.halo.requests if entry["method"] == "GET"
                and (found := by_id.match(entry["path"])) and found.group(1).casefold() != self.path]

    def messages(self) -> str:
        return "\n".join(record.getMessage() for record in self.handler.records)


@pytest.fixture
def world(name: str, tmp_path, monkeypatch, request) -> Iterator[World]:
    kind = standin_class(name)
    fixtures = {fixture: request.getfixturevalue(fixture) for fixture in kind.fixtures}
    log = logging.getLogger(f"test.contract.{name}")
    handler = ListHandler()
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    with HaloSandbox(rate_limit=None) as halo:
        standin = kind(name, halo, tmp_path, monkeypatch, fixtures)
        client = HaloClient(HaloSettings(web_app_url=halo.url, client_id=CLIENT_ID, client_secret="sandbox-secret",
                                         request_budget=0))
        try:
            standin.setup()
            yield World(name, standin, halo, client, log, handler)
        finally:
            client.close()
            standin.close()
            log.removeHandler(handler)


def writes_of(result: RunResult) -> dict[str, int]:
    return {action: sum(report.counts.get(action, 0) for report in result.reports) for action in WRITES}


def succeeded(world: World, result: RunResult) -> None:
    assert result.exit_code == EXIT_OK, (result.message, [r.failure or r.refused or r.errors for r in result.reports])
    assert len(result.reports) == len(world.standin.connection_ids) and all(report.ok for report in result.reports)


def is_a_sentence(text: str) -> bool:
    return len(text.split()) >= 4 and not NOT_A_SENTENCE.search(text) and "\n" not in text.strip()


@pytest.mark.parametrize("name", with_standin_marks(SYNC))
def test_a_first_run_creates_what_the_source_holds_and_writes_last_sync(world: World) -> None:
    before, ours_before = world.records(), world.ours()
    result = world.run()
    succeeded(world, result)
    created = writes_of(result)["create"]
    after = world.records()
    assert created > 0
    assert sum(map(len, after.values())) - sum(map(len, before.values())) == created
    assert len(world.ours()) - len(ours_before) == created
    for stamp in world.last_syncs():
        assert stamp and datetime.fromisoformat(stamp.replace("Z", "+00:00")), "no Last Sync where the declaration says"
    assert world.last_errors() == [""] * len(world.standin.connection_ids)
    assert world.refused == []


@pytest.mark.parametrize("name", with_standin_marks(SYNC))
def test_an_unchanged_second_run_writes_no_record_and_reads_none_by_id(world: World) -> None:
    succeeded(world, world.run())
    records = world.records()
    second = world.run()
    succeeded(world, second)
    assert writes_of(second) == {action: 0 for action in WRITES}
    assert world.record_writes() == [] and world.reads_by_id() == []
    assert world.records() == records and world.refused == []


@pytest.mark.parametrize("name", with_standin_marks(SYNC))
def test_a_dry_run_writes_nothing_and_leaves_the_next_run_everything_to_do(world: World) -> None:
    records, connections = world.records(), world.connections()
    dry = world.run(dry_run=True)
    succeeded(world, dry)
    assert writes_of(dry)["create"] > 0 and all(report.dry_run for report in dry.reports)
    assert world.posts() == [] and world.records() == records and world.connections() == connections
    assert world.states == {}  # a dry run keeps no sync status and no source state
    real = world.run()
    succeeded(world, real)
    assert writes_of(real)["create"] == writes_of(dry)["create"]
    assert world.refused == []


@pytest.mark.parametrize("name", with_standin_marks(SYNC))
def test_a_source_that_fails_part_way_writes_nothing_and_says_why_in_a_sentence(world: World) -> None:
    succeeded(world, world.run())
    records, last_syncs = world.records(), world.last_syncs()
    world.standin.break_read()
    result = world.run()
    assert result.exit_code == EXIT_INTEGRATION_FAILED
    assert world.record_writes() == [] and world.records() == records  # nobody deactivated, nothing updated
    assert world.last_syncs() == last_syncs
    for report, last_error in zip(result.reports, world.last_errors()):
        assert report.failure and is_a_sentence(report.failure), report.failure
        assert last_error == last_error_text(report)
    assert not [record for record in world.handler.records if record.exc_info]
    assert "Traceback" not in world.messages()
    assert world.refused == []


@pytest.mark.parametrize("name", with_standin_marks(SYNC))
def test_a_state_file_lost_between_runs_makes_no_duplicate(world: World) -> None:
    succeeded(world, world.run())
    ours = world.ours()
    assert len(set(ours)) == len(ours) > 0
    world.states.clear()  # the state file deleted
    again = world.run()
    succeeded(world, again)
    assert writes_of(again)["create"] == 0 and world.ours() == ours
    succeeded(world, world.run())
    assert world.record_writes() == [] and world.refused == []


@pytest.mark.parametrize("name", with_standin_marks(list(REGISTRY)))
def test_check_against_the_stand_in_passes_and_answers_every_prerequisite(world: World) -> None:
    results = [result for result in world.check() if result.connection is not None and result.runs]
    assert len(results) == len(world.standin.connection_ids)
    keys = {prerequisite.key for prerequisite in world.integration.prerequisites}
    for result in results:
        assert [(check.label, check.detail) for check in result.checks if not check.ok] == []
        answered = {check.prerequisite for check in result.checks}
        assert keys <= answered <= keys | {core.key for core in CORE_PREREQUISITES}
    assert world.posts() == [] and world.refused == []


@pytest.mark.parametrize("name", with_standin_marks(list(REGISTRY)))
def test_every_request_a_run_sends_is_accepted_by_the_strict_sandbox(world: World) -> None:
    world.run(dry_run=True)
    succeeded(world, world.run())
    succeeded(world, world.run())
    world.check()
    assert world.refused == []


# ---- a job integration ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", with_standin_marks(JOBS))
def test_a_dry_run_of_a_job_integration_runs_nothing(world: World) -> None:
    dry = world.run(dry_run=True)
    succeeded(world, dry)
    assert sum(report.counts.get(RUN, 0) for report in dry.reports) == 2  # it says what it would run
    assert world.standin.runs() == 0 and world.standin.answered() == 0 and world.posts() == []
    assert world.refused == []


@pytest.mark.parametrize("name", with_standin_marks(JOBS))
def test_each_queued_entry_runs_once_over_two_runs(world: World) -> None:
    first = world.run()
    succeeded(world, first)
    assert world.standin.runs() == 2 and sum(report.counts.get(RUN, 0) for report in first.reports) == 2
    assert world.standin.answered() == 2
    assert all(world.last_syncs()) and world.last_errors() == [""]
    second = world.run()
    succeeded(world, second)
    assert world.standin.runs() == 2 and world.record_writes() == []
    assert world.refused == []
