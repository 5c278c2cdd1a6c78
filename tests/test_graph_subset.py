"""tools/extract_graph_subset.py derives the emulator's rules from Graph's metadata, and the committed
sandbox/graph_subset.json is what it derived."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("extract_graph_subset", REPO / "tools" / "extract_graph_subset.py")
extractor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(extractor)

CSDL = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="microsoft.graph" Alias="graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EnumType Name="managementAgentType"><Member Name="mdm" Value="2" /><Member Name="msSense" Value="1024" /></EnumType>
  <EntityType Name="entity" Abstract="true"><Key><PropertyRef Name="id" /></Key>
    <Property Name="id" Type="Edm.String" Nullable="false" /></EntityType>
  <EntityType Name="directoryObject" BaseType="graph.entity" OpenType="true">
    <Property Name="deletedDateTime" Type="Edm.DateTimeOffset" /></EntityType>
  <EntityType Name="user" BaseType="graph.directoryObject" OpenType="true">
    <Property Name="displayName" Type="Edm.String" /><Property Name="skills" Type="Collection(Edm.String)" />
    <NavigationProperty Name="manager" Type="graph.directoryObject" /></EntityType>
  <EntityType Name="group" BaseType="graph.directoryObject" OpenType="true">
    <Property Name="displayName" Type="Edm.String" /></EntityType>
  <EntityType Name="managedDevice" BaseType="graph.entity">
    <Property Name="deviceName" Type="Edm.String" /><Property Name="notes" Type="Edm.String" />
    <Property Name="physicalMemoryInBytes" Type="Edm.Int64" Nullable="false" /></EntityType>
  <Annotations Target="microsoft.graph.managedDevice/physicalMemoryInBytes">
    <Annotation Term="Org.OData.Core.V1.Description" String="Total Memory in Bytes. Default is 0. To retrieve actual values GET call needs to be made, with device id and included in select parameter." />
  </Annotations>
  <Annotations Target="microsoft.graph.managedDevice/notes">
    <Annotation Term="Org.OData.Core.V1.Description" String="Notes. Default, is Null (Non-Default property) for this property. Individual get call with select query options is needed to retrieve actual values." />
  </Annotations>
  <Annotations Target="microsoft.graph.managedDevice/deviceName">
    <Annotation Term="Org.OData.Core.V1.Description" String="Name of the device. Default is null." />
  </Annotations>
</Schema></edmx:DataServices></edmx:Edmx>"""


@pytest.fixture
def small_tables(monkeypatch):
    monkeypatch.setattr(extractor, "FILTERS", {"user": {"displayName": "eq startsWith"}, "group": {}, "managedDevice": {}})
    monkeypatch.setattr(extractor, "USER_SINGLE_READ_ONLY", ("skills",))
    monkeypatch.setattr(extractor, "USER_DEFAULT_SELECT", ("id", "displayName"))


def test_properties_are_inherited_and_list_defaults_come_from_the_descriptions(small_tables):
    subset = extractor.extract(CSDL)
    user, device = subset["types"]["user"], subset["types"]["managedDevice"]
    assert set(user["properties"]) == {"id", "deletedDateTime", "displayName", "skills"}
    assert user["navigation"] == ["manager"] and user["filter"] == {"displayName": ["eq", "startsWith"]}
    assert device["list_default"] == {"notes": None, "physicalMemoryInBytes": 0}  # deviceName is listed normally
    assert subset["enums"]["managementAgentType"] == ["mdm", "msSense"]


def test_a_documented_name_the_metadata_lacks_stops_the_extraction(small_tables, monkeypatch):
    monkeypatch.setattr(extractor, "USER_SINGLE_READ_ONLY", ("skills", "hobbies"))
    with pytest.raises(SystemExit, match="user.hobbies"):
        extractor.extract(CSDL)


def test_the_committed_subset_holds_what_the_emulator_relies_on():
    subset = json.loads((REPO / "sandbox" / "graph_subset.json").read_text())
    device, user = subset["types"]["managedDevice"], subset["types"]["user"]
    assert device["list_default"]["ethernetMacAddress"] is None and device["list_default"]["physicalMemoryInBytes"] == 0
    assert "skills" in user["single_read_only"] and "displayName" in user["filter"]
    assert len(user["properties"]) > 70 and len(device["properties"]) > 50
    assert subset["source"]["file"] == "schemas/v1.0-Prod.csdl" and len(subset["source"]["sha256"]) == 64
