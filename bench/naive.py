"""The naive baseline: one Halo request per user, the way common import scripts do it.

Reads the whole source (Graph users and group members, or every mapped OU over LDAPS), then for each
person: GET /api/Users?search=<email> to find the record, GET /api/Users/{id} for the whole of a found
one (a list item shows only the Users_List fields: HaloAPI's Get-HaloUser -FullObjects does the
same), and POST /api/Users with that one record when it is new or differs. No batching, no paging of Halo's users, no delta. Run by the benchmark as
`python -m bench.naive SPEC.json` in a working folder; secrets come from the environment variables the
spec names; it writes naive-summary.json there.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from pathlib import Path
from typing import Any, Iterator

import requests

GRAPH_SELECT = "id,accountEnabled,displayName,givenName,surname,mail,userPrincipalName,jobTitle,department"
LDAP_ATTRIBUTES = ["displayName", "givenName", "sn", "mail", "title", "department", "userAccountControl"]


def graph_pages(session: requests.Session, url: str) -> Iterator[dict[str, Any]]:
    while url:
        page = session.get(url, timeout=60)
        page.raise_for_status()
        body = page.json()
        yield from body.get("value", [])
        url = body.get("@odata.nextLink", "")


def read_graph(spec: dict[str, Any]) -> list[dict[str, Any]]:
    session = requests.Session()
    token = session.post(f"{spec['login_url']}/{spec['tenant']}/oauth2/v2.0/token", timeout=60, data={
        "grant_type": "client_credentials", "client_id": spec["client_id"],
        "client_secret": os.environ[spec["secret_env"]], "scope": "https://graph.microsoft.com/.default"})
    token.raise_for_status()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    graph = spec["graph_url"]
    site_of: dict[str, int] = {}
    for group_name, site in spec["group_sites"]:
        groups = graph_pages(session, f"{graph}/v1.0/groups?$filter=displayName eq '{group_name}'&$select=id")
        for group in groups:
            for member in graph_pages(session, f"{graph}/v1.0/groups/{group['id']}/members?$select=id&$top=999"):
                site_of.setdefault(member["id"], site)
    people = []
    for user in graph_pages(session, f"{graph}/v1.0/users?$select={GRAPH_SELECT}&$top=999"):
        people.append({
            "name": user.get("displayName") or "", "firstname": user.get("givenName") or "",
            "surname": user.get("surname") or "", "emailaddress": user.get("mail") or user.get("userPrincipalName"),
            "title": user.get("jobTitle") or "", "department": user.get("department") or "",
            "site_id": site_of.get(user["id"], spec["unmatched_site"]), "inactive": not user.get("accountEnabled"),
        })
    return people


def read_ldap(spec: dict[str, Any]) -> list[dict[str, Any]]:
    import ldap3

    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=spec["ca_file"])
    server = ldap3.Server(spec["host"], port=spec["port"], use_ssl=True, tls=tls, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, spec["bind_dn"], os.environ[spec["password_env"]], auto_bind=True,
                            raise_exceptions=True)
    people = []
    for ou_dn, site in spec["ou_sites"]:
        entries = conn.extend.standard.paged_search(ou_dn, "(&(objectCategory=person)(objectClass=user))",
                                                    attributes=LDAP_ATTRIBUTES, paged_size=spec["page_size"],
                                                    generator=True)
        for entry in entries:
            if entry.get("type") != "searchResEntry":
                continue
            values = entry["attributes"]
            people.append({
                "name": _text(values.get("displayName")), "firstname": _text(values.get("givenName")),
                "surname": _text(values.get("sn")), "emailaddress": _text(values.get("mail")),
                "title": _text(values.get("title")), "department": _text(values.get("department")),
                "site_id": site, "inactive": bool(int(_text(values.get("userAccountControl")) or 0) & 2),
            })
    conn.unbind()
    return people


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


class NaiveHalo:
    """Halo the naive way: a token, then one GET per person and one POST per new or changed person."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.api = spec["url"] + "/api"
        self.session = requests.Session()
        token = self.session.post(f"{spec['url']}/auth/token", params={"tenant": spec["tenant"]}, timeout=60, data={
            "grant_type": "client_credentials", "client_id": spec["client_id"],
            "client_secret": os.environ[spec["secret_env"]], "scope": "all"})
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def find(self, email: str) -> dict[str, Any] | None:
        answer = self.session.get(f"{self.api}/Users", params={"search": email, "includeinactive": "true"}, timeout=60)
        answer.raise_for_status()
        listed = next((user for user in answer.json().get("users", [])
                       if str(user.get("emailaddress") or "").lower() == email.lower()), None)
        if listed is None:
            return None
        whole = self.session.get(f"{self.api}/Users/{listed['id']}", timeout=60)
        whole.raise_for_status()
        return whole.json()

    def post(self, record: dict[str, Any]) -> None:
        self.session.post(f"{self.api}/Users", json=[record], timeout=60).raise_for_status()


def sync(people: list[dict[str, Any]], halo: NaiveHalo) -> dict[str, int]:
    summary = {"read": len(people), "created": 0, "updated": 0, "unchanged": 0}
    for person in people:
        current = halo.find(person["emailaddress"])
        if current is None:
            halo.post(person)
            summary["created"] += 1
            continue
        changed = {name: value for name, value in person.items() if current.get(name) != value}
        if changed:
            halo.post({"id": current["id"], **changed})
            summary["updated"] += 1
        else:
            summary["unchanged"] += 1
    return summary


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    people = read_graph(spec["source"]) if spec["source"]["source"] == "azure" else read_ldap(spec["source"])
    summary = sync(people, NaiveHalo(spec["halo"]))
    Path("naive-summary.json").write_text(json.dumps(summary), encoding="utf-8")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
