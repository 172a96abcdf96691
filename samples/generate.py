#!/usr/bin/env python3
"""Generates driftwatch's bundled samples, deterministically.

    python3 samples/generate.py        # rewrites samples/lms and samples/peerquest

samples/peerquest: the Django tables of the original PeerQuest sync audit, in exactly the state
its report (AUDIT-001) describes.

samples/lms: an SSOT database of about 300 people and seven daily folders of platform exports
(Entra users, Teams channels and channel members, WordPress users, LearnDash courses, groups and
course users, Question2Answer users), in the shapes of the real APIs. Every platform mirrors the
SSOT of its day exactly, except for the drifts listed in samples/lms/drift.csv, which the
generator injects (and which later tests check the rules against).
"""
import csv
import json
import os
import random
import shutil
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
TENANT = "contoso.onmicrosoft.com"
GRAPH = "https://graph.microsoft.com/v1.0"
DAYS = range(1, 8)


def day_time(day, hour=6):
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


# --------------------------------------------------------------------------- peerquest
def peerquest():
    out = os.path.join(HERE, "peerquest")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "ssot.db")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE users_user (id integer NOT NULL PRIMARY KEY, username varchar(150) NOT NULL UNIQUE);
        CREATE TABLE quests_quest (id integer NOT NULL PRIMARY KEY, title varchar(200) NOT NULL,
            status varchar(20) NOT NULL, creator_id integer NOT NULL REFERENCES users_user(id),
            assigned_to_id integer NULL REFERENCES users_user(id));
        CREATE TABLE quests_questparticipant (id integer NOT NULL PRIMARY KEY,
            quest_id integer NOT NULL REFERENCES quests_quest(id),
            user_id integer NOT NULL REFERENCES users_user(id),
            status varchar(20) NOT NULL, joined_at datetime NOT NULL);
        CREATE TABLE applications_application (id integer NOT NULL PRIMARY KEY,
            quest_id integer NOT NULL REFERENCES quests_quest(id),
            applicant_id integer NOT NULL REFERENCES users_user(id),
            status varchar(20) NOT NULL, applied_at datetime NOT NULL, reviewed_at datetime NULL);
        """
    )
    users = [(1, "admin"), (2, "student1"), (3, "student2"), (4, "student3")]
    # id, title, status, creator, assignee
    quests = [
        (1, "Test 1", "in-progress", 1, 2),
        (2, "Test 2", "open", 1, None),
        (3, "Test 3 v2", "open", 1, None),
        (4, "Test 4", "in-progress", 1, None),
        (5, "Intro to Rust", "in-progress", 1, 2),
        (6, "Data Cleaning", "completed", 1, 3),
        (7, "Peer Review 101", "in-progress", 1, 2),
        (8, "Test 123", "in-progress", 1, None),
    ]
    # (quest, user): every participant has an approved application.
    participants = [(1, 2), (4, 2), (5, 2), (5, 4), (6, 3), (6, 4), (7, 2), (8, 3)]
    approved_without_participant = [(1, 3), (2, 3), (3, 4)]
    db.executemany("INSERT INTO users_user VALUES (?, ?)", users)
    db.executemany("INSERT INTO quests_quest VALUES (?, ?, ?, ?, ?)", quests)
    for i, (q, u) in enumerate(participants, 1):
        db.execute("INSERT INTO quests_questparticipant VALUES (?, ?, ?, 'joined', ?)",
                   (i, q, u, f"2026-10-{10 + i:02d} 09:00:00"))
    for i, (q, u) in enumerate(participants + approved_without_participant, 1):
        db.execute("INSERT INTO applications_application VALUES (?, ?, ?, 'approved', ?, ?)",
                   (i, q, u, f"2026-10-{i:02d} 10:00:00", f"2026-10-{i + 1:02d} 15:30:00"))
    db.commit()
    db.close()


# --------------------------------------------------------------------------- lms: the SSOT
FIRST = ["Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lena",
         "Milo", "Nia", "Omar", "Pia", "Quin", "Rosa", "Sami", "Tara", "Uma", "Vik", "Wren", "Yara"]
LAST = ["Adler", "Berg", "Costa", "Diaz", "Evans", "Fischer", "Garcia", "Hoang", "Ivanova", "Jensen",
        "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Silva",
        "Tanaka", "Ulrich", "Varga", "Weber", "Young"]


class World:
    """The SSOT as it evolves over the seven days."""

    def __init__(self):
        self.rng = random.Random(20261101)
        self.people = {}      # id -> dict
        self.courses = []
        self.groups = []
        self.enrollments = {}  # id -> dict
        self.quiz = {}         # person id -> (passed, taken_at)
        self.next_person = 1
        self.next_enrollment = 1

    def person(self, role, joined_day=0, domain="example.org"):
        pid = self.next_person
        self.next_person += 1
        first, last = FIRST[pid % len(FIRST)], LAST[(pid * 7) % len(LAST)]
        username = f"{first.lower()}.{last.lower()}{pid}"
        email = f"{username}@{'partner.net' if role == 'advisor' else domain}"
        rng = self.rng
        p = dict(id=pid, username=username, email=email, first_name=first, last_name=last, role=role,
                 status="active",
                 joined_at=f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T09:00:00Z" if not joined_day
                 else day_time(joined_day, 5),
                 left_at=None,
                 entra_id=f"{pid:08x}-{rng.randrange(16**4):04x}-4{rng.randrange(16**3):03x}-a{rng.randrange(16**3):03x}-{rng.randrange(16**12):012x}",
                 wp_user_id=1000 + pid, q2a_user_id=5000 + pid)
        self.people[pid] = p
        return p

    def enroll(self, person, course, group, role, day=0):
        eid = self.next_enrollment
        self.next_enrollment += 1
        self.enrollments[eid] = dict(id=eid, member_id=person["id"], course_id=course["id"], group_id=group["id"],
                                     role=role, status="active",
                                     enrolled_at=day_time(day, 5) if day else "2026-09-01T09:00:00Z")
        return eid

    def build(self):
        rng = self.rng
        for i in range(1, 13):
            code = f"C{i:02d}"
            self.courses.append(dict(id=i, code=code, title=f"Course {code}: {['Foundations', 'Practice', 'Advanced'][i % 3]} {i}",
                                     teams_team_id=f"team-{i:04d}-{'%08x' % (i * 2654435761 % 2**32)}",
                                     teams_channel_id=f"19:course{i:02d}{'%012x' % (i * 40503 * 65537)}@thread.tacv2",
                                     lms_course_id=200 + i))
            for g in (1, 2):
                self.groups.append(dict(id=(i - 1) * 2 + g, course_id=i, name=f"{code}-G{g}", lms_group_id=400 + (i - 1) * 2 + g,
                                        mentor_id=None))
        mentors = [self.person("mentor") for _ in range(24)]
        advisors = [self.person("advisor") for _ in range(16)]
        members = [self.person("member") for _ in range(256)]
        for group, mentor in zip(self.groups, mentors):
            course = self.courses[group["course_id"] - 1]
            group["mentor_id"] = mentor["id"]
            self.enroll(mentor, course, group, "mentor")
        for n, m in enumerate(members):
            courses = rng.sample(self.courses, 1 if n % 3 else 2)
            for c in courses:
                g = self.groups[(c["id"] - 1) * 2 + rng.randint(0, 1)]
                self.enroll(m, c, g, "member")
            passed = n % 10 != 0   # one in ten members has not passed the compliance quiz
            self.quiz[m["id"]] = (passed, "2026-10-15T12:00:00Z" if passed else None)
        self.members, self.mentors, self.advisors = members, mentors, advisors

    def active_enrollments(self):
        return [e for e in self.enrollments.values()
                if e["status"] == "active" and self.people[e["member_id"]]["status"] == "active"]


def write_ssot(world, path):
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE members (id INTEGER PRIMARY KEY, username TEXT NOT NULL, email TEXT NOT NULL,
            first_name TEXT, last_name TEXT, role TEXT NOT NULL, status TEXT NOT NULL,
            joined_at DATETIME, left_at DATETIME, entra_id TEXT, wp_user_id INTEGER, q2a_user_id INTEGER);
        CREATE TABLE courses (id INTEGER PRIMARY KEY, code TEXT, title TEXT, teams_team_id TEXT,
            teams_channel_id TEXT, lms_course_id INTEGER);
        CREATE TABLE groups (id INTEGER PRIMARY KEY, course_id INTEGER, name TEXT, lms_group_id INTEGER, mentor_id INTEGER);
        CREATE TABLE enrollments (id INTEGER PRIMARY KEY, member_id INTEGER, course_id INTEGER, group_id INTEGER,
            role TEXT, status TEXT, enrolled_at DATETIME);
        CREATE TABLE quiz_results (id INTEGER PRIMARY KEY, member_id INTEGER, quiz TEXT, passed BOOLEAN, taken_at DATETIME);
        """
    )
    cols = "id username email first_name last_name role status joined_at left_at entra_id wp_user_id q2a_user_id".split()
    for p in sorted(world.people.values(), key=lambda p: p["id"]):
        db.execute(f"INSERT INTO members VALUES ({','.join('?' * len(cols))})", [p[c] for c in cols])
    for c in world.courses:
        db.execute("INSERT INTO courses VALUES (?,?,?,?,?,?)",
                   [c[k] for k in "id code title teams_team_id teams_channel_id lms_course_id".split()])
    for g in world.groups:
        db.execute("INSERT INTO groups VALUES (?,?,?,?,?)", [g[k] for k in "id course_id name lms_group_id mentor_id".split()])
    for e in sorted(world.enrollments.values(), key=lambda e: e["id"]):
        db.execute("INSERT INTO enrollments VALUES (?,?,?,?,?,?,?)",
                   [e[k] for k in "id member_id course_id group_id role status enrolled_at".split()])
    for i, (pid, (passed, at)) in enumerate(sorted(world.quiz.items()), 1):
        db.execute("INSERT INTO quiz_results VALUES (?, ?, 'compliance', ?, ?)", (i, pid, 1 if passed else 0, at))
    db.commit()
    db.close()


# --------------------------------------------------------------------------- lms: drift
class Drift:
    def __init__(self):
        self.rows = []

    def add(self, kind, platform, person, days, course=None, detail="", lag=""):
        self.rows.append(dict(id=len(self.rows) + 1, kind=kind, platform=platform, email=person["email"],
                              username=person["username"], course=course["code"] if course else "",
                              first_day=days[0], last_day=days[-1], lag_days=lag, detail=detail))

    def active(self, kind, day, platform=None):
        return [r for r in self.rows if r["kind"] == kind and r["first_day"] <= day <= r["last_day"]
                and (platform is None or r["platform"] == platform)]


def evolve(world, day, drift):
    """Applies the SSOT changes of `day` (joiners, leavers, enrollments, quiz passes) and records
    the drifts they cause where a platform is late."""
    rng = world.rng
    C = world.courses
    G = lambda c, n: world.groups[(c["id"] - 1) * 2 + n]
    if day == 2:
        # A member passes the compliance quiz: WordPress and Q2A follow the same day.
        m = [x for n, x in enumerate(world.members) if n % 10 == 0][0]
        world.quiz[m["id"]] = (True, day_time(2, 3))
    if day == 3:
        # New enrollment: reaches the LMS a day late and Teams two days late.
        m = world.members[5]
        c = next(c for c in C if all(e["course_id"] != c["id"] for e in world.enrollments.values() if e["member_id"] == m["id"]))
        world.enroll(m, c, G(c, 0), "member", day)
        drift.add("missing_lms_enrollment", "learndash", m, [3], c, "new enrollment reached the LMS one day late", lag=1)
        drift.add("missing_from_channel", "teams", m, [3, 4], c, "new enrollment reached Teams two days late", lag=2)
        # A member leaves: every platform follows the same day.
        leaver = world.members[40]
        leaver.update(status="left", left_at=day_time(3, 4))
        for e in world.enrollments.values():
            if e["member_id"] == leaver["id"]:
                e["status"] = "dropped"
    if day == 4:
        # A member passes the quiz: Q2A follows the same day, WordPress three days late.
        m = [x for n, x in enumerate(world.members) if n % 10 == 0][1]
        world.quiz[m["id"]] = (True, day_time(4, 3))
        drift.add("still_restricted", "wordpress", m, [4, 5, 6], None, "quiz passed; WordPress role changed three days late", lag=3)
        # Joiners with enrollments: Teams follows a day late for the first.
        for k in range(2):
            j = world.person("member", joined_day=4)
            world.members.append(j)
            world.quiz[j["id"]] = (True, day_time(4, 2))
            c = C[(k * 5) % 12]
            world.enroll(j, c, G(c, 1), "member", 4)
            if k == 0:
                drift.add("missing_from_channel", "teams", j, [4], c, "joiner reached Teams one day late", lag=1)
    if day == 5:
        # An advisor is suspended; the guest account stays enabled in Entra (never fixed).
        a = world.advisors[3]
        a.update(status="suspended")
        drift.add("guest_active", "entra", a, [5, 6, 7], None, "advisor suspended in the SSOT; guest still enabled")
    if day == 6:
        # A member leaves; Teams removes them a day late (extra channel member on day 6).
        leaver = world.members[77]
        courses = [e["course_id"] for e in world.enrollments.values() if e["member_id"] == leaver["id"] and e["status"] == "active"]
        leaver.update(status="left", left_at=day_time(6, 4))
        for e in world.enrollments.values():
            if e["member_id"] == leaver["id"]:
                e["status"] = "dropped"
        drift.add("extra_channel_member", "teams", leaver, [6], C[courses[0] - 1], "leaver removed from Teams one day late", lag=1)
        # A member drops one course: everything follows the same day.
        e = next(e for e in world.enrollments.values() if e["member_id"] == world.members[90]["id"])
        e["status"] = "dropped"
    if day == 7:
        # Late enrollment of an existing member that had not reached the LMS by the last day.
        m = world.members[120]
        c = next(c for c in C if all(e["course_id"] != c["id"] for e in world.enrollments.values() if e["member_id"] == m["id"]))
        world.enroll(m, c, G(c, 1), "member", 7)
        drift.add("missing_lms_enrollment", "learndash", m, [7], c, "new enrollment not in the LMS yet", lag="")


def standing_drifts(world, drift):
    """Drifts that are not caused by a change on a given day: they appear and some are fixed."""
    C = world.courses
    by_person = lambda m: [world.courses[e["course_id"] - 1] for e in world.enrollments.values()
                           if e["member_id"] == m["id"] and e["status"] == "active"]
    ms = world.members
    drift.add("missing_from_channel", "teams", ms[10], [1, 2, 3, 4, 5, 6, 7], by_person(ms[10])[0], "never added to the course channel")
    drift.add("missing_from_channel", "teams", ms[11], [2, 3, 4], by_person(ms[11])[0], "removed by mistake, re-added on day 5")
    other = next(c for c in C if c not in by_person(ms[12]))
    drift.add("extra_channel_member", "teams", ms[12], [1, 2, 3, 4, 5, 6, 7], other, "in a channel of a course they are not enrolled in")
    other = next(c for c in C if c not in by_person(ms[13]))
    drift.add("extra_channel_member", "teams", ms[13], [3, 4, 5], other, "added to the wrong channel, removed on day 6")
    drift.add("missing_lms_enrollment", "learndash", ms[14], [1, 2, 3, 4, 5, 6, 7], by_person(ms[14])[0], "assigned in the SSOT, never enrolled in the LMS course")
    drift.add("still_restricted", "q2a", ms[15], [1, 2, 3, 4, 5, 6, 7], None, "quiz passed; Q2A level still basic")
    drift.add("still_restricted", "wordpress", ms[16], [2, 3, 4, 5, 6, 7], None, "quiz passed; WordPress role set back to restricted")
    mentor = world.mentors[2]
    drift.add("mentor_not_owner", "teams", mentor, [1, 2, 3, 4, 5, 6, 7],
              C[next(g for g in world.groups if g["mentor_id"] == mentor["id"])["course_id"] - 1], "mentor is a plain channel member")
    mentor = world.mentors[7]
    drift.add("mentor_not_owner", "teams", mentor, [4, 5, 6, 7],
              C[next(g for g in world.groups if g["mentor_id"] == mentor["id"])["course_id"] - 1], "owner role dropped on day 4")
    drift.add("email_mismatch", "wordpress", ms[17], [2, 3, 4, 5, 6, 7], None, "WordPress keeps an old address")
    drift.add("email_mismatch", "entra", ms[18], [4, 5, 6, 7], None, "Entra mail has a typo")
    drift.add("email_mismatch", "q2a", ms[19], [1, 2, 3], None, "Q2A address differed, fixed on day 4")
    a = world.advisors[1]
    drift.add("guest_active", "entra", a, [1, 2, 3, 4, 5, 6, 7], None, "advisor left before day 1; guest still enabled")
    world.advisors[1].update(status="left", left_at="2026-10-20T12:00:00Z")
    ghost = dict(email="former.partner@partner.net", username="former.partner", id=0)
    drift.add("guest_active", "entra", ghost, [1, 2, 3, 4, 5, 6, 7], None, "guest unknown to the SSOT, still enabled")
    # members 10..19 must not be touched by day changes
    for m in ms[15:17]:
        world.quiz[m["id"]] = (True, "2026-10-15T12:00:00Z")


# --------------------------------------------------------------------------- lms: platforms
def graph_pages(path_prefix, context, records, page_size, extra=None, select=""):
    pages = [records[i:i + page_size] for i in range(0, len(records), page_size)] or [[]]
    for n, page in enumerate(pages, 1):
        doc = {"@odata.context": context}
        if extra:
            doc.update(extra)
        if n == 1 and not extra:
            doc["@odata.count"] = len(records)
        doc["value"] = page
        if n < len(pages):
            doc["@odata.nextLink"] = f"{GRAPH}/{select}&$skiptoken=X{n:04d}"
        with open(f"{path_prefix}-page-{n}.json", "w") as f:
            json.dump(doc, f, indent=1)


def entra_users(world, day, drift, out):
    users = []
    mismatch = {r["email"] for r in drift.active("email_mismatch", day, "entra")}
    keep_enabled = {r["email"] for r in drift.active("guest_active", day)}
    for p in sorted(world.people.values(), key=lambda p: p["entra_id"]):
        guest = p["role"] == "advisor"
        mail = p["email"]
        if mail in mismatch:
            mail = mail.replace("@", ".@", 1)
        users.append({
            "id": p["entra_id"],
            "userPrincipalName": (p["email"].replace("@", "_") + f"#EXT#@{TENANT}") if guest else f"{p['username']}@{TENANT}",
            "mail": mail,
            "displayName": f"{p['first_name']} {p['last_name']}",
            "accountEnabled": p["status"] == "active" or p["email"] in keep_enabled,
            "userType": "Guest" if guest else "Member",
            "externalUserState": ("Accepted" if p["id"] % 5 else "PendingAcceptance") if guest else None,
            "createdDateTime": None if p["id"] % 17 == 0 else p["joined_at"],
        })
    users.append({"id": "ffffffff-0000-4000-a000-00000000dead", "userPrincipalName": f"former.partner_partner.net#EXT#@{TENANT}",
                  "mail": "former.partner@partner.net", "displayName": "Former Partner", "accountEnabled": True,
                  "userType": "Guest", "externalUserState": "Accepted", "createdDateTime": "2025-03-03T10:00:00Z"})
    sel = "users?$select=id,userPrincipalName,mail,displayName,accountEnabled,userType,externalUserState,createdDateTime&$top=100"
    graph_pages(os.path.join(out, "entra_users"), f"{GRAPH}/$metadata#users(id,userPrincipalName,mail,displayName,accountEnabled,userType,externalUserState,createdDateTime)",
                users, 100, select=sel)


STAFF_OWNER_COURSE = "C03"
STAFF_OWNER = {"email": "it.support@example.org", "entra_id": "ffffffff-0000-4000-a000-0000000000aa",
               "first_name": "IT", "last_name": "Support"}


def teams(world, day, drift, out):
    missing = {(r["email"], r["course"]) for r in drift.active("missing_from_channel", day)}
    extra = {(r["email"], r["course"]) for r in drift.active("extra_channel_member", day)}
    not_owner = {(r["email"], r["course"]) for r in drift.active("mentor_not_owner", day)}
    by_email = {p["email"]: p for p in world.people.values()}
    for c in world.courses:
        with open(os.path.join(out, f"teams_channels-{c['code']}.json"), "w") as f:
            json.dump({"@odata.context": f"{GRAPH}/$metadata#teams('{c['teams_team_id']}')/channels",
                       "teamId": c["teams_team_id"], "@odata.count": 1,
                       "value": [{"id": c["teams_channel_id"], "displayName": c["title"], "membershipType": "private",
                                  "email": "", "createdDateTime": "2026-08-20T08:00:00Z"}]}, f, indent=1)
        members = {}
        for e in world.active_enrollments():
            if e["course_id"] == c["id"]:
                p = world.people[e["member_id"]]
                if (p["email"], c["code"]) in missing:
                    continue
                owner = e["role"] == "mentor" and (p["email"], c["code"]) not in not_owner
                members[p["email"]] = (p, ["owner"] if owner else [])
        for email, code in extra:
            if code == c["code"]:
                members[email] = (by_email[email], [])
        if c["code"] == STAFF_OWNER_COURSE:
            # IT support owns this channel without being in the SSOT: owners are exempt from
            # "a channel member is enrolled", and this keeps that exemption tested.
            members[STAFF_OWNER["email"]] = (STAFF_OWNER, ["owner"])
        records = []
        for p, roles in sorted(members.values(), key=lambda x: x[0]["entra_id"]):
            records.append({"@odata.type": "#microsoft.graph.aadUserConversationMember",
                            "id": f"MCMj{c['id']:02d}{p['entra_id'].replace('-', '')[:20]}==",
                            "roles": roles, "displayName": f"{p['first_name']} {p['last_name']}",
                            "visibleHistoryStartDateTime": "0001-01-01T00:00:00Z",
                            "userId": p["entra_id"], "email": p["email"], "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47"})
        graph_pages(os.path.join(out, f"teams_channel_members-{c['code']}"),
                    f"{GRAPH}/$metadata#teams('{c['teams_team_id']}')/channels('{c['teams_channel_id']}')/members",
                    records, 20, extra={"teamId": c["teams_team_id"], "channelId": c["teams_channel_id"]},
                    select=f"teams/{c['teams_team_id']}/channels/{c['teams_channel_id']}/members?$top=20")


def wordpress(world, day, drift, out):
    restricted = {r["email"] for r in drift.active("still_restricted", day, "wordpress")}
    mismatch = {r["email"] for r in drift.active("email_mismatch", day, "wordpress")}
    users = []
    for p in sorted(world.people.values(), key=lambda p: p["wp_user_id"]):
        if p["status"] != "active":
            continue
        if p["role"] == "member":
            passed = world.quiz[p["id"]][0] and p["email"] not in restricted
            roles = ["subscriber"] if passed else ["restricted"]
        else:
            roles = ["group_leader"] if p["role"] == "mentor" else ["advisor"]
        users.append({"id": p["wp_user_id"], "username": p["username"], "name": f"{p['first_name']} {p['last_name']}",
                      "first_name": p["first_name"], "last_name": p["last_name"],
                      "email": p["email"].replace("@", "@old.", 1) if p["email"] in mismatch else p["email"],
                      "url": "", "description": "", "link": f"https://lms.example.org/author/{p['username']}/",
                      "locale": "en_US", "nickname": p["username"], "slug": p["username"].replace(".", "-"),
                      "roles": roles, "registered_date": p["joined_at"].rstrip("Z"),
                      "capabilities": {"read": True}, "extra_capabilities": {roles[0]: True},
                      "avatar_urls": {}, "meta": [], "_links": {}})
    for n in range(0, len(users), 100):
        with open(os.path.join(out, f"wp_users-page-{n // 100 + 1}.json"), "w") as f:
            json.dump(users[n:n + 100], f, indent=1)
    with open(os.path.join(out, "learndash_courses.json"), "w") as f:
        json.dump([{"id": c["lms_course_id"], "date": "2026-08-15T10:00:00", "slug": c["code"].lower(), "status": "publish",
                    "type": "sfwd-courses", "title": {"rendered": c["title"]}, "price_type": "closed"} for c in world.courses], f, indent=1)
    with open(os.path.join(out, "learndash_groups.json"), "w") as f:
        json.dump([{"id": g["lms_group_id"], "date": "2026-08-15T10:00:00", "slug": g["name"].lower(), "status": "publish",
                    "type": "groups", "title": {"rendered": g["name"]}} for g in world.groups], f, indent=1)
    missing = {(r["email"], r["course"]) for r in drift.active("missing_lms_enrollment", day)}
    for c in world.courses:
        enrolled = sorted({world.people[e["member_id"]]["id"] for e in world.active_enrollments() if e["course_id"] == c["id"]
                           and (world.people[e["member_id"]]["email"], c["code"]) not in missing})
        users = [{"id": world.people[i]["wp_user_id"], "username": world.people[i]["username"],
                  "name": f"{world.people[i]['first_name']} {world.people[i]['last_name']}",
                  "slug": world.people[i]["username"].replace(".", "-")} for i in enrolled]
        with open(os.path.join(out, f"learndash_course_users-{c['lms_course_id']}.json"), "w") as f:
            json.dump({"course_id": c["lms_course_id"], "users": users}, f, indent=1)


def q2a(world, day, drift, out):
    restricted = {r["email"] for r in drift.active("still_restricted", day, "q2a")}
    mismatch = {r["email"] for r in drift.active("email_mismatch", day, "q2a")}
    with open(os.path.join(out, "q2a_users.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["userid", "handle", "email", "level", "flags", "created", "loggedin"])
        for p in sorted(world.people.values(), key=lambda p: p["q2a_user_id"]):
            if p["role"] == "member":
                level = 10 if world.quiz[p["id"]][0] and p["email"] not in restricted else 0
            else:
                level = 20 if p["role"] == "mentor" else 50
            flags = 1 if p["status"] == "active" else 1 | 2
            email = p["email"].replace("@", "+qa@", 1) if p["email"] in mismatch else p["email"]
            # Last login: the latest of the days so far on which this user came by (about one in seven).
            visits = [d for d in range(1, day + 1) if (p["q2a_user_id"] * 3 + d) % 7 == 0]
            loggedin = day_time(visits[-1], 5) if visits else "2026-10-31T18:00:00Z"
            w.writerow([p["q2a_user_id"], p["username"], email, level, flags, p["joined_at"].replace("T", " ").rstrip("Z"),
                        loggedin.replace("T", " ").rstrip("Z")])


def lms():
    out = os.path.join(HERE, "lms")
    for d in DAYS:
        shutil.rmtree(os.path.join(out, f"day-{d}"), ignore_errors=True)
    world = World()
    world.build()
    drift = Drift()
    standing_drifts(world, drift)
    for day in DAYS:
        evolve(world, day, drift)
        folder = os.path.join(out, f"day-{day}")
        os.makedirs(folder)
        write_ssot(world, os.path.join(folder, "ssot.db"))
        entra_users(world, day, drift, folder)
        teams(world, day, drift, folder)
        wordpress(world, day, drift, folder)
        q2a(world, day, drift, folder)
    with open(os.path.join(out, "drift.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(drift.rows[0].keys()))
        w.writeheader()
        w.writerows(drift.rows)


if __name__ == "__main__":
    peerquest()
    lms()
