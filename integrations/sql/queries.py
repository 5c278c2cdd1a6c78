"""The default queries the Integrator ships: used when Halo holds no query for Lansweeper or SCCM.

T-SQL for the real databases (Lansweeper's ``tblAssets`` family; ConfigMgr's ``v_R_System`` and
``v_GS_*`` views), written in the part of SQL that PostgreSQL shares (no TOP, ISNULL or brackets), so
the same text also runs against the sandbox database in the tests. The column aliases are the default
key fields (``DEFAULT_KEYS``), used where Halo's idfield / typefield / sitefield / userfield are empty.
"""

from __future__ import annotations

LANSWEEPER_QUERY = """\
SELECT
    a.AssetID,
    a.AssetName,
    t.AssetTypename AS AssetType,
    c.Serialnumber AS SerialNumber,
    c.Manufacturer,
    c.Model,
    os.Caption AS OperatingSystem,
    a.IPAddress,
    a.Mac AS MACAddress,
    a.Domain,
    a.Username,
    a.Memory,
    a.Processor,
    c.Location AS Site,
    c.PurchaseDate,
    c.Warrantydate AS WarrantyDate,
    a.Lastseen AS LastSeen
FROM tblAssets AS a
INNER JOIN tblAssetCustom AS c ON c.AssetID = a.AssetID
INNER JOIN tsysAssetTypes AS t ON t.AssetType = a.AssetType
LEFT JOIN tblOperatingsystem AS os ON os.AssetID = a.AssetID
WHERE c.State = 1
"""

# Client0 = 1: machines with the ConfigMgr client; Obsolete0 / Decommissioned0: records ConfigMgr itself
# has replaced or retired (a reinstalled machine keeps an obsolete twin with the same serial number).
SCCM_QUERY = """\
SELECT
    s.ResourceID,
    s.Netbios_Name0 AS Name,
    b.SerialNumber0 AS SerialNumber,
    cs.Manufacturer0 AS Manufacturer,
    cs.Model0 AS Model,
    os.Caption0 AS OperatingSystem,
    os.Version0 AS OSVersion,
    CASE WHEN os.Caption0 LIKE '%Server%' THEN 'Server' ELSE 'Workstation' END AS AssetType,
    s.User_Name0 AS UserName,
    s.Resource_Domain_OR_Workgr0 AS Domain,
    s.AD_Site_Name0 AS Site,
    mem.TotalPhysicalMemory0 AS MemoryKB,
    ws.LastHWScan AS LastHardwareScan
FROM v_R_System AS s
LEFT JOIN v_GS_PC_BIOS AS b ON b.ResourceID = s.ResourceID
LEFT JOIN v_GS_COMPUTER_SYSTEM AS cs ON cs.ResourceID = s.ResourceID
LEFT JOIN v_GS_OPERATING_SYSTEM AS os ON os.ResourceID = s.ResourceID
LEFT JOIN v_GS_X86_PC_MEMORY AS mem ON mem.ResourceID = s.ResourceID
LEFT JOIN v_GS_WORKSTATION_STATUS AS ws ON ws.ResourceID = s.ResourceID
WHERE s.Client0 = 1
  AND (s.Obsolete0 = 0 OR s.Obsolete0 IS NULL)
  AND (s.Decommissioned0 = 0 OR s.Decommissioned0 IS NULL)
"""

DEFAULT_QUERIES = {"lansweeper": LANSWEEPER_QUERY, "sccm": SCCM_QUERY}
DEFAULT_KEYS = {
    "lansweeper": {"idfield": "SerialNumber", "typefield": "AssetType", "sitefield": "Site",
                   "userfield": "Username", "usermatchingfield": "login"},
    "sccm": {"idfield": "SerialNumber", "typefield": "AssetType", "sitefield": "Site",
             "userfield": "UserName", "usermatchingfield": "login"},
}
# The field mappings that go with the default queries when Halo has none: column -> Halo asset field.
DEFAULT_NAME_COLUMN = {"lansweeper": "AssetName", "sccm": "Name"}
