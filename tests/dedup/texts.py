"""Small hand-made news texts, and the ways syndication changes them.

Everything here is invented for the tests: one wire story, the edits syndication makes to
it, and the look-alikes that must stay apart (stories quoting one statement, press
releases sharing a company's boilerplate, template siblings with other facts).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pipeline.records import Document

WIRE_STORY = [
    "The regional water authority approved a plan on Tuesday to rebuild the aging Millbrook reservoir "
    "dam, ending a three-year dispute between farmers downstream and the towns that draw their drinking "
    "water from the lake.",
    "The project, estimated at 214 million dollars, will replace the earthen embankment built in 1958 "
    "with a concrete structure designed to withstand a flood twice as large as the one that damaged the "
    "spillway four winters ago.",
    "Board chair Helena Osei said the vote followed eleven public hearings and more than two thousand "
    "written comments. She told reporters that nobody got everything they wanted, but that the valley "
    "could not afford another season of emergency repairs.",
    "Farmers had argued that the original design would cut the summer release of water by a third. The "
    "approved version keeps a minimum flow of forty cubic metres a second during the irrigation months, "
    "paid for partly by a new pumping station near the old mill.",
    "Construction is due to begin next spring and last about four years. During that time the lake will "
    "be kept at roughly half its usual level, and the authority will truck water to three hamlets whose "
    "wells depend on it.",
    "Engineers found cracks in the spillway channel after the storms of the last decade, and an "
    "inspection report published in March rated the dam in poor condition for the first time since "
    "it was built.",
    "Opponents on the town council said they would still ask a court to review the environmental "
    "assessment, arguing that the effect on migrating trout had not been studied over a full breeding "
    "season.",
    "The authority said it would publish a detailed timetable for the closures of the lakeside road "
    "and the public beach before the end of the year, and that fishing permits already sold would be "
    "refunded.",
]

LOCAL_PARAGRAPHS = [
    "In Carver County, where most of the affected farms lie, the agricultural board called a special "
    "meeting for Thursday evening at the grange hall to explain the new release schedule to growers.",
    "Local fire chief Tom Reyes said his crews would keep a tanker stationed at the north shore during "
    "the works because the usual hydrants draw directly from the lake intake.",
]

DATELINE = "MILLBROOK, Ore. (AP) — "
TRAILER = (
    "Copyright 2020 The Associated Press. All rights reserved. "
    "This material may not be published, broadcast, rewritten or redistributed."
)
NOTE = "This story was originally published by a partner outlet and is republished here with permission."
WATERMARK = "© www.valley-courier.example"

STATEMENT = (
    "We are deeply saddened by the events of this week and our thoughts are with every family that has "
    "been affected. The ministry has opened an independent review of the safety procedures that were in "
    "place, and it will share its findings with the public as soon as the review is complete. Until then "
    "we ask everyone to respect the privacy of those involved and to rely on official information only."
)

STORIES_QUOTING_THE_STATEMENT = [
    [
        "A freight train carrying grain left the tracks near the river town of Alder Creek on Monday "
        "night, blocking the main line to the coast for most of the following day.",
        "Two crew members were taken to hospital with minor injuries. The transport ministry issued a "
        "statement on Tuesday morning:",
        STATEMENT,
        "Rail traffic is expected to resume on Thursday once the damaged section of track has been replaced.",
    ],
    [
        "Hundreds of students were sent home from Westfield secondary school on Wednesday after a heating "
        "boiler in the basement released smoke into the science wing during the first lesson.",
        "Firefighters ventilated the building and said the air was safe by noon. The education ministry "
        "said in a statement:",
        STATEMENT,
        "Parents were told that classes would continue online until inspectors have checked every boiler "
        "in the district.",
    ],
    [
        "A ferry with forty passengers on board ran aground on a sandbank outside Port Ellery harbour in "
        "thick fog early on Friday, and the coast guard towed it back to the pier after the tide rose.",
        "Nobody was hurt, but several cars on the lower deck were damaged. The maritime ministry said:",
        STATEMENT,
        "The ferry operator has cancelled its weekend crossings while divers examine the hull.",
    ],
    [
        "Part of the roof of the municipal swimming pool in Greyhaven collapsed under the weight of wet snow "
        "on Saturday, hours after the building had closed for the night.",
        "A caretaker raised the alarm when he heard the noise. The sports ministry released a statement:",
        STATEMENT,
        "The town council said the pool would stay closed for the rest of the season and that season "
        "ticket holders could use the neighbouring town's facilities free of charge.",
    ],
]

ABOUT = (
    "About Northwind Turbines: Northwind Turbines designs and builds wind turbines for onshore and "
    "offshore wind farms, with factories in four countries and more than three thousand employees. For "
    "more information, visit the company's investor relations website."
)
SAFE_HARBOUR = (
    "Forward-looking statements: This press release contains forward-looking statements that are based "
    "on current expectations and are subject to risks and uncertainties, including market conditions, "
    "supply chain disruptions, regulatory developments and other factors described in the company's "
    "filings. Northwind Turbines undertakes no obligation to update any forward-looking statement."
)

PRESS_RELEASES = [
    [
        "Northwind Turbines today announced an order for sixty turbines from the Bellmoor offshore project, "
        "its largest single order to date. Deliveries are planned to start in the second half of next year "
        "and the turbines will be assembled at the company's quay in Saltmarsh before being shipped out.",
        ABOUT,
        SAFE_HARBOUR,
    ],
    [
        "Northwind Turbines today reported third-quarter revenue of 812 million euros, up nine percent from "
        "a year earlier, as lower steel prices helped its margins recover. The order backlog grew to a "
        "record, and the company raised its forecast for the full year for the first time since 2018.",
        ABOUT,
        SAFE_HARBOUR,
    ],
    [
        "Northwind Turbines today named Ingrid Halvorsen as its new chief financial officer. She joins from "
        "a shipping group where she led the finance department for six years, and before that she worked "
        "in the audit practice of a large accounting firm in Oslo and London.",
        ABOUT,
        SAFE_HARBOUR,
    ],
    [
        "Northwind Turbines today opened a blade factory in the port of Kestrel Bay. The plant will employ "
        "four hundred people when it reaches full production, and the regional government contributed to "
        "the cost of the new access road and the training centre next to it.",
        ABOUT,
        SAFE_HARBOUR,
    ],
]

# Template siblings: the same skeleton with other facts in every sentence.
MATCH_REPORT = (
    "The {home} beat the {away} {score} on {day} at {ground}, extending their unbeaten run to {run} games. "
    "{scorer} opened the scoring after {minute} minutes with a header from a corner by {assist}. "
    "The visitors levelled through {other} shortly before half-time, but {late} restored the lead with "
    "{left} minutes left. Coach {coach} said afterwards that the team had been patient and deserved the "
    "points. The {home} now sit {place} in the table, {gap} points behind the leaders, and travel to "
    "{next} next {nextday}."
)
MATCH_FACTS = [
    dict(
        home="Harbor City Sharks",
        away="Valley Rovers",
        score="3-1",
        day="Saturday",
        ground="Lakeside Arena",
        run="six",
        scorer="Mara Quinn",
        minute="twelve",
        assist="Ida Brandt",
        other="Lea Soto",
        late="Nora Vance",
        left="ten",
        coach="Pavel Orlov",
        place="third",
        gap="four",
        next="Eastport",
        nextday="Sunday",
    ),
    dict(
        home="Granite Falls United",
        away="Cedar Town",
        score="2-1",
        day="Wednesday",
        ground="Millfield Park",
        run="nine",
        scorer="Jonas Weber",
        minute="thirty",
        assist="Kofi Mensah",
        other="Ruben Diaz",
        late="Amir Haddad",
        left="five",
        coach="Sofia Lind",
        place="second",
        gap="two",
        next="Northgate",
        nextday="Friday",
    ),
    dict(
        home="Old Quarry Athletic",
        away="Bay Harriers",
        score="4-2",
        day="Sunday",
        ground="Station Road",
        run="three",
        scorer="Elena Petrova",
        minute="eight",
        assist="Maya Cohen",
        other="Tara Byrne",
        late="Lina Moreau",
        left="fifteen",
        coach="Omar Farouk",
        place="fifth",
        gap="seven",
        next="Riverside",
        nextday="Tuesday",
    ),
]


def text(paragraphs: list[str]) -> str:
    return "\n".join(paragraphs)


def document(
    url: str, paragraphs: list[str], published: str | None, fetched: str = "2020-09-20T12:00:00Z"
) -> Document:
    body = text(paragraphs)
    return Document(
        url=url,
        text=body,
        fetched_at=fetched,
        content_sha=hashlib.sha256(body.encode()).hexdigest(),
        published_at=published,
        source=url.split("/")[2],
    )


def edited(paragraphs: list[str], every: int = 17) -> list[str]:
    """Light copy-editing: every `every`-th word dropped, a few commas added."""
    result = []
    for paragraph in paragraphs:
        kept = [w for i, w in enumerate(paragraph.split(), 1) if i % every]
        result.append(" ".join(w + "," if i % 11 == 5 else w for i, w in enumerate(kept)))
    return result


def watermarked(paragraphs: list[str]) -> list[str]:
    """A site's watermark pasted into the middle of a few paragraphs."""
    result = []
    for number, paragraph in enumerate(paragraphs):
        words = paragraph.split()
        if number % 3 == 1:
            words.insert(len(words) // 2, WATERMARK)
        result.append(" ".join(words))
    return result


# Every kind of change a syndicated copy goes through, applied to the wire story.
TRANSFORMS = {
    "dateline": lambda ps: [DATELINE + ps[0], *ps[1:]],
    "trailer": lambda ps: [*ps, TRAILER],
    "note": lambda ps: [NOTE, *ps],
    "edit": edited,
    "truncate": lambda ps: ps[:5],
    "extend": lambda ps: [*ps, *LOCAL_PARAGRAPHS],
    "drop-para": lambda ps: [p for i, p in enumerate(ps) if i not in (2, 5)],
    "watermark": watermarked,
    "headline": lambda ps: list(ps),  # a new headline is not part of the text
    "several": lambda ps: [NOTE, *watermarked(edited([DATELINE + ps[0], *ps[1:6]])), TRAILER],
}


def utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
