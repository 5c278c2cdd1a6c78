"""The sandbox database's contents: a Lansweeper-like schema, SCCM-like views and an HR table.

Deterministic rows (the tests derive what they expect from the same functions) with what real
inventories hold: NULL and empty serials, serials two machines share, the BIOS placeholder many share,
Unicode names and sites, dates, timestamps and decimals, inactive assets, an asset type Halo lacks,
and SCCM's obsolete twins of reinstalled machines.
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

ASSET_TYPES = ((-1, "Windows"), (11, "Linux"), (16, "Printer"), (208, "Monitor"), (66, "Toaster"))
SITES = ("London", "Paris", "Zürich", "New York", "Atlantis", None)  # Atlantis: not a Halo site
PLACEHOLDER_SERIAL = "To be filled by O.E.M."
SCCM_FIRST_RESOURCE = 16777216


@dataclass(frozen=True)
class LansweeperAsset:
    asset_id: int
    name: str
    asset_type: int
    serial: str | None
    location: str | None
    username: str | None
    memory: int | None
    price: decimal.Decimal | None
    purchase_date: dt.date | None
    warranty: dt.datetime | None
    last_seen: dt.datetime
    state: int  # 1 active (the default query's filter), 2 not


def lansweeper_assets(count: int, seed: int = 14) -> list[LansweeperAsset]:
    rng = random.Random(seed)
    assets = []
    for number in range(1, count + 1):
        kinds = rng.choices(ASSET_TYPES, weights=(70, 10, 10, 8, 2))[0]
        assets.append(LansweeperAsset(
            asset_id=number, name=_name(number), asset_type=kinds[0], serial=_serial(number),
            location=SITES[number % len(SITES)], username=None if number % 9 == 0 else f"user{number % 400:03d}",
            memory=None if number % 13 == 0 else rng.choice((4096, 8192, 16384, 32768)),
            price=None if number % 11 == 0 else decimal.Decimal(rng.randint(10000, 250000)) / 100,
            purchase_date=None if number % 17 == 0 else dt.date(2019, 1, 1) + dt.timedelta(days=number % 1500),
            warranty=None if number % 19 == 0 else dt.datetime(2027, 6, 30, 12, 0, 0) + dt.timedelta(days=number % 700),
            last_seen=dt.datetime(2026, 11, 1, 8, 30, 0) + dt.timedelta(minutes=number),
            state=2 if number % 50 == 0 else 1,
        ))
    return assets


def _name(number: int) -> str:
    if number % 97 == 0:
        return f"Zürich-Ünïcødé-{number}"
    if number % 211 == 0:
        return f"東京-端末-{number}"
    if number == 333:
        return "Laptop 💻 333"
    return f"PC-{number:05d}"


def _serial(number: int) -> str | None:
    if number % 150 == 0:
        return None
    if number % 173 == 0:
        return "  "  # blank: as good as no serial
    if number % 401 == 0:
        return PLACEHOLDER_SERIAL
    if number % 250 == 0:
        return f"SN{number - 1:07d}"  # the serial of the asset before it: a duplicate pair
    return f"SN{number:07d}"


@dataclass(frozen=True)
class SccmMachine:
    resource_id: int
    name: str
    serial: str | None  # None: no v_GS_PC_BIOS row
    os_caption: str
    user: str | None
    site: str | None
    client: int
    obsolete: int
    memory_kb: int | None
    last_scan: dt.datetime | None


def sccm_machines(count: int, seed: int = 15) -> list[SccmMachine]:
    rng = random.Random(seed)
    machines = []
    for number in range(1, count + 1):
        server = number % 10 == 0
        machines.append(SccmMachine(
            resource_id=SCCM_FIRST_RESOURCE + number, name=f"{'SRV' if server else 'WS'}-{number:05d}",
            serial=None if number % 120 == 0 else f"CZ{number:08d}",
            os_caption="Microsoft Windows Server 2022 Standard" if server else "Microsoft Windows 11 Enterprise",
            user=None if server or number % 7 == 0 else f"user{number % 400:03d}",
            site=SITES[number % 4], client=0 if number % 90 == 0 else 1, obsolete=0,
            memory_kb=rng.choice((8388608, 16777216)) if number % 15 else None,
            last_scan=None if number % 23 == 0 else dt.datetime(2026, 11, 20, 6, 0) + dt.timedelta(seconds=number),
        ))
    twins = [m for m in machines if m.serial and m.resource_id % 60 == 0]
    for offset, machine in enumerate(twins, start=1):  # a reinstalled machine's old record, same serial
        machines.append(SccmMachine(SCCM_FIRST_RESOURCE + count + offset, machine.name, machine.serial,
                                    machine.os_caption, machine.user, machine.site, 1, 1, None, None))
    return machines


@dataclass(frozen=True)
class Person:
    email: str | None
    full_name: str
    office: str | None
    phone: str | None


def hr_people(count: int) -> list[Person]:
    people = [Person(None if n % 40 == 0 else f"person{n:04d}@example.com",
                     "Zoë Ødegård" if n == 7 else f"Person {n:04d}", SITES[n % 5], None if n % 3 else f"+44 20 7946 {n:04d}")
              for n in range(1, count + 1)]
    people.append(Person("person0002@example.com", "Person 0002 again", "Paris", None))  # duplicate e-mail
    return people


def seed_sql(assets: Sequence[LansweeperAsset], machines: Sequence[SccmMachine], people: Sequence[Person],
             reader: str) -> str:
    """The whole seeding script for psql: schema, rows (COPY), views, the reader's grants."""
    parts = [SCHEMA, _copy("tsysAssetTypes", ("AssetType", "AssetTypename"), ASSET_TYPES)]
    parts.append(_copy("tblAssets", ("AssetID", "AssetName", "AssetType", "Domain", "Username", "IPAddress", "Mac",
                                     "Memory", "Processor", "Lastseen"),
                       ((a.asset_id, a.name, a.asset_type, "CORP", a.username, f"10.1.{a.asset_id // 250}.{a.asset_id % 250}",
                         f"00:15:5D:{a.asset_id // 65536:02X}:{a.asset_id // 256 % 256:02X}:{a.asset_id % 256:02X}",
                         a.memory, "Intel(R) Core(TM) i7", a.last_seen) for a in assets)))
    parts.append(_copy("tblAssetCustom", ("AssetID", "Manufacturer", "Model", "Serialnumber", "Location",
                                          "PurchaseDate", "Warrantydate", "PurchasePrice", "State"),
                       ((a.asset_id, "Dell Inc.", "OptiPlex 7090", a.serial, a.location, a.purchase_date, a.warranty,
                         a.price, a.state) for a in assets)))
    parts.append(_copy("tblOperatingsystem", ("AssetID", "Caption"),
                       ((a.asset_id, "Microsoft Windows 11 Pro") for a in assets if a.asset_type == -1)))
    parts.append(_copy("sccm_system", ("ResourceID", "Netbios_Name0", "User_Name0", "Resource_Domain_OR_Workgr0",
                                       "AD_Site_Name0", "Client0", "Obsolete0", "Decommissioned0"),
                       ((m.resource_id, m.name, m.user, "CORP", m.site, m.client, m.obsolete, 0) for m in machines)))
    parts.append(_copy("sccm_bios", ("ResourceID", "SerialNumber0"),
                       ((m.resource_id, m.serial) for m in machines if m.serial)))
    parts.append(_copy("sccm_computer", ("ResourceID", "Manufacturer0", "Model0"),
                       ((m.resource_id, "HP", "EliteBook 840 G9") for m in machines)))
    parts.append(_copy("sccm_os", ("ResourceID", "Caption0", "Version0"),
                       ((m.resource_id, m.os_caption, "10.0.22631") for m in machines)))
    parts.append(_copy("sccm_memory", ("ResourceID", "TotalPhysicalMemory0"),
                       ((m.resource_id, m.memory_kb) for m in machines if m.memory_kb)))
    parts.append(_copy("sccm_status", ("ResourceID", "LastHWScan"),
                       ((m.resource_id, m.last_scan) for m in machines)))
    parts.append(_copy("hr_people", ("Email", "FullName", "Office", "Phone"),
                       ((p.email, p.full_name, p.office, p.phone) for p in people)))
    return "\n".join(parts) + VIEWS + GRANTS.format(reader=reader)


SCHEMA = """\
CREATE TABLE tsysAssetTypes (AssetType integer PRIMARY KEY, AssetTypename varchar(100) NOT NULL);
CREATE TABLE tblAssets (AssetID integer PRIMARY KEY, AssetName varchar(100) NOT NULL, AssetType integer NOT NULL,
  Domain varchar(150), Username varchar(150), IPAddress varchar(50), Mac varchar(50), Memory integer,
  Processor varchar(300), Lastseen timestamp);
CREATE TABLE tblAssetCustom (AssetID integer PRIMARY KEY, Manufacturer varchar(150), Model varchar(150),
  Serialnumber varchar(150), Location varchar(150), PurchaseDate date, Warrantydate timestamp,
  PurchasePrice numeric(12,2), State integer NOT NULL);
CREATE TABLE tblOperatingsystem (AssetID integer PRIMARY KEY, Caption varchar(250));
CREATE TABLE sccm_system (ResourceID integer PRIMARY KEY, Netbios_Name0 varchar(32), User_Name0 varchar(255),
  Resource_Domain_OR_Workgr0 varchar(255), AD_Site_Name0 varchar(255), Client0 integer, Obsolete0 integer,
  Decommissioned0 integer);
CREATE TABLE sccm_bios (ResourceID integer PRIMARY KEY, SerialNumber0 varchar(255));
CREATE TABLE sccm_computer (ResourceID integer PRIMARY KEY, Manufacturer0 varchar(255), Model0 varchar(255));
CREATE TABLE sccm_os (ResourceID integer PRIMARY KEY, Caption0 varchar(255), Version0 varchar(255));
CREATE TABLE sccm_memory (ResourceID integer PRIMARY KEY, TotalPhysicalMemory0 bigint);
CREATE TABLE sccm_status (ResourceID integer PRIMARY KEY, LastHWScan timestamp);
CREATE TABLE hr_people (Email varchar(200), FullName varchar(200) NOT NULL, Office varchar(100), Phone varchar(50));
CREATE TABLE halo_audit (touched_at timestamp NOT NULL DEFAULT now());
-- A function that writes: a SELECT of it passes the guard, so only the read-only transaction and the
-- rollback stand between it and the database (the tests prove both hold).
CREATE FUNCTION halo_sandbox_touch() RETURNS integer LANGUAGE sql AS
  'INSERT INTO halo_audit DEFAULT VALUES RETURNING 1';
"""

VIEWS = """
CREATE VIEW v_R_System AS SELECT * FROM sccm_system;
CREATE VIEW v_GS_PC_BIOS AS SELECT ResourceID, SerialNumber0 FROM sccm_bios;
CREATE VIEW v_GS_COMPUTER_SYSTEM AS SELECT ResourceID, Manufacturer0, Model0 FROM sccm_computer;
CREATE VIEW v_GS_OPERATING_SYSTEM AS SELECT ResourceID, Caption0, Version0 FROM sccm_os;
CREATE VIEW v_GS_X86_PC_MEMORY AS SELECT ResourceID, TotalPhysicalMemory0 FROM sccm_memory;
CREATE VIEW v_GS_WORKSTATION_STATUS AS SELECT ResourceID, LastHWScan FROM sccm_status;
"""

# The reader may read everything and, to prove the read-only transaction is what stops a write, may
# also insert into halo_audit (a least-privilege login would not: see dist-README).
GRANTS = """
GRANT USAGE ON SCHEMA public TO {reader};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};
GRANT INSERT ON halo_audit TO {reader};
"""


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = [f"COPY {table} ({', '.join(columns)}) FROM stdin;"]
    lines += ["\t".join(_copy_value(value) for value in row) for row in rows]
    return "\n".join(lines) + "\n\\.\n"


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
