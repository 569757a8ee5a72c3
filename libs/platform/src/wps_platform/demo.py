"""The records behind the development provider's demo users: their two academies and the
trainees, created through enrolment's REST API as an administrator would. A second start finds
them and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx

from wps_platform.idp.directory import Directory


async def seed_demo_records(
    enrolment: httpx.AsyncClient, directory: Directory, token: str
) -> list[str]:
    """Create what is missing through enrolment's API with an administrator's `token`; returns
    what was created, for the start-up banner."""
    created: list[str] = []
    auth = {"Authorization": f"Bearer {token}"}
    listed = _ok(await enrolment.get("/v1/academies", params={"limit": 200}, headers=auth))
    academies = {a["code"]: a["id"] for a in listed["items"]}
    unnamed = {a["code"] for a in listed["items"] if not a.get("names")}
    for academy in directory.academies:
        if academy.code in academies:
            if academy.code in unnamed and academy.names:  # seeded before names existed
                path = f"/v1/academies/{academies[academy.code]}"
                _ok(await enrolment.patch(path, json={"names": academy.names}, headers=auth))
                created.append(f"names of academy {academy.code}")
            continue
        body = academy.model_dump(
            include={"code", "name", "country", "time_zone", "languages", "names"}
        )
        academies[academy.code] = _ok(
            await enrolment.post("/v1/academies", json=body, headers=auth)
        )["id"]
        created.append(f"academy {academy.code}")
    for user in directory.users:
        if "wps-trainee" not in user.roles or not user.academy or not user.employee_number:
            continue
        trainee = {
            "academy_id": academies[user.academy],
            "employee_number": user.employee_number,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "preferred_language": user.locale,
            "gender": user.gender,
            "rank": user.rank,
            "unit": user.unit,
        }
        response = await enrolment.post(
            "/v1/trainees", json={k: v for k, v in trainee.items() if v}, headers=auth
        )
        if response.status_code == 409:  # registered on an earlier start
            continue
        _ok(response)
        created.append(f"trainee {user.employee_number} ({user.username})")
    return created


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()
