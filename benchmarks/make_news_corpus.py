"""A news-like .jsonl corpus the project has never trained on: thousands of short articles, generated.

    python benchmarks/make_news_corpus.py --out /tmp/news.jsonl              # 4,000 articles, ~840k words, ~3 s
    squeeze run --data /tmp/news.jsonl --out /tmp/news-study                  # the default study on it

Each line is {"id": ..., "text": ...}: a headline and 3-8 paragraphs on one of six beats (markets, weather, sport,
city politics, technology, health), written from sentence templates whose slots draw on per-beat word lists, a
shared cast of places, organisations and people, numbers, dates and quotes. Articles on a beat share phrasing and
facts recur across articles (a company keeps its sector, a team its city), so there is structure to learn and to
repeat; no two articles are the same. Seeded: the same --seed writes the same file. Used for issue 18's check that
`squeeze run --data FILE` gives the same kind of table on a corpus of short documents.
"""
import argparse
import json
import sys

import numpy as np

CITIES = ("Northbridge", "Calder", "Port Ellis", "Marston", "Avonfield", "Kingsreach", "Lowell Bay", "Harrowgate",
          "Eastmere", "Stonecross", "Redwater", "Fenwick")
PEOPLE = ("Ana Ruiz", "Tom Becker", "Priya Nair", "Jonas Holt", "Mei Chen", "Samuel Okafor", "Lena Vogel",
          "Daniel Price", "Sofia Marino", "Ibrahim Khan", "Grace Lindqvist", "Owen Hartley")
ROLES = ("the mayor", "a spokesperson", "the chief executive", "an analyst", "the coach", "a senior official",
         "the head of research", "a local resident", "the finance minister", "a union representative")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
BEATS = {
    "markets": {
        "nouns": ("shares", "bonds", "the index", "profits", "revenue", "the currency", "oil prices", "exports"),
        "verbs": ("rose", "fell", "climbed", "slipped", "rallied", "dropped", "edged higher", "held steady"),
        "orgs": ("Calder Steel", "Northbridge Bank", "Marston Foods", "Harbor Freight Lines", "Redwater Energy"),
        "heads": ("{org} {verb} after {noun} report", "Markets {verb} as investors weigh {noun}",
                  "{org} shares {verb} on {day}"),
        "lines": ("{org} said {noun} {verb} {n} percent in the {q} quarter.",
                  "Traders said {noun} {verb} after the central bank left rates at {r} percent.",
                  "\"We expect {noun} to stay volatile,\" said {person}, {role} at {org}.",
                  "The broader index {verb} {n} points to close at {big} on {day}.",
                  "Analysts had forecast that {noun} would {verb2} by about {n} percent.",
                  "{org} will report full results on {month} {date}."),
    },
    "weather": {
        "nouns": ("rain", "snow", "wind", "heat", "fog", "storms", "flooding", "frost"),
        "verbs": ("is expected", "will spread", "will ease", "could return", "is forecast"),
        "orgs": ("the weather service", "the flood agency", "the coast guard", "the roads authority"),
        "heads": ("Heavy {noun} forecast for {city}", "{city} braces for {noun}", "Warnings issued as {noun} nears"),
        "lines": ("Heavy {noun} {verb} across {city} from {day} evening.",
                  "{org} said temperatures would reach {t} degrees by {day}.",
                  "Residents of {city} were told to avoid travel until {day}.",
                  "\"Conditions will improve later in the week,\" said {person}, {role} at {org}.",
                  "Up to {n} millimetres of {noun} fell overnight near {city2}.",
                  "Schools in {city} will open as normal on {day}, {org} said."),
    },
    "sport": {
        "nouns": ("the final", "the league", "the cup", "the derby", "the season opener", "the semi-final"),
        "verbs": ("won", "lost", "drew", "came back to win", "held on to win"),
        "orgs": ("Northbridge City", "Calder Rovers", "Port Ellis United", "Marston Athletic", "Eastmere Town"),
        "heads": ("{org} {verb} {noun}", "{person} scores twice as {org} {verb}", "{org} through to {noun}"),
        "lines": ("{org} {verb} {g1}-{g2} against {org2} on {day}.",
                  "{person} scored in the {m}th minute after a pass from {person2}.",
                  "\"The players gave everything today,\" said {role}, {person}.",
                  "The result leaves {org} {pos} in the table with {n} points.",
                  "A crowd of {big} watched {noun} in {city}.",
                  "{org} play {org2} in {noun} on {month} {date}."),
    },
    "politics": {
        "nouns": ("the budget", "the housing plan", "the transport bill", "the tax proposal", "the school reform"),
        "verbs": ("approved", "rejected", "delayed", "debated", "amended"),
        "orgs": ("the city council", "the regional assembly", "the planning board", "the transport committee"),
        "heads": ("Council {verb} {noun}", "{city} votes on {noun}", "Row over {noun} in {city}"),
        "lines": ("{org} {verb} {noun} by {g1} votes to {g2} on {day}.",
                  "The plan would cost {n} million over {g1} years, officials said.",
                  "\"This is the right decision for {city},\" said {person}, {role}.",
                  "Opponents said {noun} would raise costs for families in {city2}.",
                  "A public hearing on {noun} is set for {month} {date}.",
                  "{org} will publish the final text before {day}."),
    },
    "technology": {
        "nouns": ("the new phone", "the chip", "the app", "the data centre", "the software update", "the satellite"),
        "verbs": ("launched", "unveiled", "recalled", "delayed", "upgraded"),
        "orgs": ("Kingsreach Labs", "Stonecross Systems", "Avonfield Networks", "Lowell Robotics"),
        "heads": ("{org} {verb} {noun}", "{org} bets on {noun}", "Users report problems with {noun}"),
        "lines": ("{org} {verb} {noun} at an event in {city} on {day}.",
                  "The company said {noun} would be {n} percent faster than the last model.",
                  "\"We built this for people who need it to just work,\" said {person}, {role} at {org}.",
                  "{noun} will cost {price} and ship in {month}.",
                  "Reviewers in {city2} said the battery lasted about {g1} hours.",
                  "{org} employs {big} people and plans to hire {n} more."),
    },
    "health": {
        "nouns": ("flu cases", "waiting times", "the vaccine", "the new clinic", "hospital admissions"),
        "verbs": ("rose", "fell", "doubled", "eased", "stabilised"),
        "orgs": ("the health board", "Fenwick General Hospital", "the public health agency", "the nurses' union"),
        "heads": ("{noun} {verb} in {city}", "{org} warns on {noun}", "New figures on {noun}"),
        "lines": ("{noun} {verb} by {n} percent in {city} last month, {org} said.",
                  "\"We are asking people to get checked early,\" said {person}, {role} at {org}.",
                  "{org} said it would open {g1} more beds by {month}.",
                  "Doctors in {city2} reported {big} visits in the week to {day}.",
                  "The figures will be reviewed again on {month} {date}."),
    },
}


def article(rng: np.random.Generator, i: int) -> str:
    beat_name = list(BEATS)[i % len(BEATS)] if rng.random() < 0.5 else str(rng.choice(list(BEATS)))
    beat = BEATS[beat_name]

    def pick(xs):
        return xs[int(rng.integers(len(xs)))]
    org = pick(beat["orgs"])

    def fill(t: str) -> str:
        return t.format(
            org=org, org2=pick([o for o in beat["orgs"] if o != org] or beat["orgs"]), noun=pick(beat["nouns"]),
            verb=pick(beat["verbs"]), verb2=pick(beat["verbs"]).split()[-1], person=pick(PEOPLE),
            person2=pick(PEOPLE), role=pick(ROLES), city=pick(CITIES), city2=pick(CITIES), day=pick(DAYS),
            month=pick(MONTHS), date=int(rng.integers(1, 29)), n=int(rng.integers(2, 60)),
            big=f"{int(rng.integers(1_000, 90_000)):,}", r=f"{rng.uniform(0.5, 6):.2f}", t=int(rng.integers(-8, 38)),
            q=pick(("first", "second", "third", "fourth")), g1=int(rng.integers(0, 9)), g2=int(rng.integers(0, 9)),
            m=int(rng.integers(2, 90)), pos=pick(("first", "second", "third", "fifth", "last")),
            price=f"{int(rng.integers(49, 1_999))} dollars")
    head = fill(pick(beat["heads"]))
    paragraphs = []
    for _ in range(int(rng.integers(3, 9))):
        lines = [fill(pick(beat["lines"])) for _ in range(int(rng.integers(2, 5)))]
        lines = [line[0].upper() + line[1:] for line in lines]
        paragraphs.append(" ".join(lines))
    return head[0].upper() + head[1:] + "\n\n" + "\n\n".join(paragraphs) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="the .jsonl file to write")
    p.add_argument("--docs", type=int, default=4000, help="articles (default 4,000)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    words = 0
    with open(a.out, "w") as f:
        for i in range(a.docs):
            text = article(rng, i)
            words += len(text.split())
            f.write(json.dumps({"id": f"news{i:05d}", "text": text}) + "\n")
    print(f"{a.out}: {a.docs:,} articles, {words:,} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
