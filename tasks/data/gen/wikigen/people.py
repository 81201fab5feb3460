"""Article kinds about people: footballers and scientists."""

from . import Kind, O, P, Section
from .names import COUNTRIES
from .text import date, number, words

POSITIONS = ["striker", "winger", "midfielder", "centre-back", "full-back", "goalkeeper"]
NATIONS = [
    "English",
    "Scottish",
    "Welsh",
    "Irish",
    "Norwegian",
    "Danish",
    "Dutch",
    "Belgian",
    "Canadian",
    "Australian",
]
NATION_COUNTRY = dict(
    zip(
        NATIONS,
        [
            "England",
            "Scotland",
            "Wales",
            "Ireland",
            "Norway",
            "Denmark",
            "the Netherlands",
            "Belgium",
            "Canada",
            "Australia",
        ],
        strict=False,
    )
)
CLUB_ENDS = [
    " United",
    " Town",
    " City",
    " Rovers",
    " Athletic",
    " Albion",
    " Wanderers",
    " County",
]


def pronouns(female):
    if female:
        return {"he": "she", "He": "She", "his": "her", "His": "Her", "him": "her"}
    return {"he": "he", "He": "He", "his": "his", "His": "His", "him": "him"}


def footballer_facts(rng, names):
    given, surname, _ = names.person(female=False, unique=True)
    nation = rng.choice(NATIONS)
    born = rng.randint(1925, 1984)
    debut = born + rng.randint(17, 20)
    moved = debut + rng.randint(3, 6)
    later = moved + rng.randint(3, 6)
    retired = later + rng.randint(2, 6)
    position = rng.choice(POSITIONS)
    keeper = position == "goalkeeper"
    apps1, apps2, apps3 = rng.randint(60, 220), rng.randint(80, 300), rng.randint(30, 120)
    goal = (
        (lambda a: rng.randint(0, 2))
        if keeper
        else (
            (lambda a: int(a * rng.uniform(0.25, 0.5)))
            if position in ("striker", "winger")
            else (lambda a: int(a * rng.uniform(0.02, 0.15)))
        )
    )
    facts = {
        "title": f"{given} {surname}",
        "full": f"{given} {surname}",
        "surname": surname,
        "nation": nation,
        "country": NATION_COUNTRY.get(nation, "England"),
        "born": born,
        "bdate": date(rng, born),
        "birthplace": names.any_place(),
        "position": position,
        "club1": names.any_place() + rng.choice(CLUB_ENDS),
        "club2": names.any_place() + rng.choice(CLUB_ENDS),
        "club3": names.any_place() + rng.choice(CLUB_ENDS),
        "debut": debut,
        "moved": moved,
        "later": later,
        "retired": retired,
        "apps1": apps1,
        "apps2": apps2,
        "apps3": apps3,
        "goals1": goal(apps1),
        "goals2": goal(apps2),
        "goals3": goal(apps3),
        "fee": number(rng.randint(2, 90) * 1000 if born < 1970 else rng.randint(2, 60) * 100000),
        "caps": rng.randint(3, 48),
        "intl_debut": moved + rng.randint(0, 2),
        "opponent": rng.choice(
            [
                "Sweden",
                "Austria",
                "Switzerland",
                "Iceland",
                "Finland",
                "Hungary",
                "Portugal",
                "Greece",
                "Poland",
                "Romania",
            ]
        ),
        "manager": names.full_name(False),
        "coach_club": names.any_place() + rng.choice(CLUB_ENDS),
        "cup": rng.choice(["League Cup", "FA Cup", "national cup", "Cup Winners' Cup"]),
        "cup_year": moved + rng.randint(1, 3),
        "wife": names.full_name(True),
        "children": words(rng.randint(2, 4)),
        "died": retired + rng.randint(20, 50),
        "role": "keeping goal" if keeper else "scoring goals",
    }
    facts["a_nation"] = ("an " if nation[0] in "AEIOU" else "a ") + nation
    intl_goals = 0 if keeper else rng.randint(0, facts["caps"] // 3)
    facts["intl_record"] = (
        "without scoring"
        if intl_goals == 0
        else f"and scored {intl_goals} goal" + ("s" if intl_goals > 1 else "")
    )
    return facts


FOOTBALLER = Kind(
    "footballer",
    footballer_facts,
    [
        Section(
            None,
            [
                [
                    "{full} ( born {bdate} ) is [a former|a retired] {nation} [professional|] footballer who "
                    "played as a {position}.",
                    "{full} ( born {bdate} in {birthplace} ) is {a_nation} former footballer who played as a "
                    "{position} [for {club1} and {club2}|in the Football League|for several clubs].",
                ],
                [
                    "He made [more than|over] {apps2} league appearances for {club2}, and won {caps} caps for "
                    "{country}.",
                    "He is best remembered for his [years|seasons] at {club2}, where he [made {apps2} league appearances|played "
                    "{apps2} league games].",
                ],
            ],
        ),
        Section(
            "Early life",
            [
                [
                    "{surname} was born in {birthplace} and [played|began playing] football [at school|for a local "
                    "youth team|for his school team].",
                    "Born in {birthplace}, {surname} was the [eldest|youngest|second] of [three|four|five] children, "
                    "and [his father|an uncle] had played [amateur|semi-professional] football.",
                ],
                O(
                    0.6,
                    [
                        "He [was spotted|was noticed] by a scout from {club1} at the age of [fifteen|sixteen] "
                        "and joined the club as an apprentice.",
                        "He [left school|finished school] at sixteen and [worked|spent a year working] [in a "
                        "factory|as a clerk|on a farm] before {club1} offered him a contract.",
                    ],
                ),
            ],
            p=0.8,
        ),
        Section(
            "Club career",
            [],
            subsections=[
                Section(
                    "{club1}",
                    [
                        [
                            "{surname} made his debut for {club1} in {debut}, [at the age of|aged] "
                            "[seventeen|eighteen|nineteen].",
                            "He [made his first team debut|first played for the senior side] in {debut}, [in a "
                            "defeat|in a draw|in a win] against [a local rival|the league leaders].",
                        ],
                        [
                            "Over the next [few|four|five] seasons he made {apps1} league appearances, [scoring {goals1} "
                            "goals|and scored {goals1} times].",
                            "In all he played {apps1} league games for {club1} and scored {goals1} goals.",
                        ],
                        O(
                            0.6,
                            [
                                "His [form|performances] [attracted|drew] interest from [larger clubs|several clubs], "
                                "[and|but] {club1} [refused|turned down] [an early|a first] offer."
                            ],
                        ),
                    ],
                    level=3,
                ),
                Section(
                    "{club2}",
                    [
                        [
                            "In {moved} he [joined|signed for|moved to] {club2} for a fee of £{fee}.",
                            "{club2} [signed|bought] him in {moved} [for £{fee}|for a fee of £{fee}], [then|at the "
                            "time] a [club record|large sum].",
                        ],
                        [
                            "Under the manager {manager} he [became|established himself as] a [regular|first choice] "
                            "{position}, and he [helped the club win|was part of the side that won] the {cup} in "
                            "{cup_year}.",
                            "He [settled quickly|was soon a regular] and [played|appeared] in the {cup} final of "
                            "{cup_year}, [which|and] the club won [by two goals to one|after a replay|on penalties].",
                        ],
                        [
                            "He [stayed|remained] at {club2} until {later}, making {apps2} league appearances and "
                            "scoring {goals2} goals.",
                            "[By the time he left|When he left] in {later} he had played {apps2} league games [for the "
                            "club|] and scored {goals2} goals.",
                        ],
                    ],
                    level=3,
                ),
                Section(
                    "Later career",
                    [
                        [
                            "He [finished|ended] his career at {club3}, [where he|and] played {apps3} [league "
                            "games|times] before retiring in {retired}.",
                            "[After|Following] a spell at {club3}, for whom he made {apps3} appearances, he retired "
                            "[from playing|] in {retired}.",
                        ],
                        O(
                            0.5,
                            [
                                "[A knee injury|Injury|A broken leg] [limited|restricted] his [last|final] "
                                "[season|seasons]."
                            ],
                        ),
                    ],
                    level=3,
                ),
            ],
        ),
        Section(
            "International career",
            [
                [
                    "{surname} won his first cap for {country} in {intl_debut} against {opponent}.",
                    "He made his international debut for {country} against {opponent} in {intl_debut}.",
                ],
                ["In total he [won|earned] {caps} caps [for his country|] {intl_record}."],
            ],
            p=0.8,
        ),
        Section(
            "[Coaching career|Later life|Personal life]",
            [
                [
                    "After retiring he [became|worked as] [a coach|youth team coach|assistant manager] at "
                    "{coach_club}[| for several years].",
                    "[After his retirement|After he stopped playing] he [ran a public house|opened a sports shop|"
                    "worked as a driving instructor] in {birthplace}.",
                ],
                O(
                    0.6,
                    [
                        "He married {wife} in [the|] [same year he joined {club2}|{moved}], and they had "
                        "{children} children.",
                        "He [later settled|settled] in {birthplace}[ with his wife|] [after his retirement|"
                        "when he stopped playing].",
                    ],
                ),
            ],
            p=0.8,
        ),
    ],
)

FIELDS = [
    ("chemist", "chemistry", "the structure of organic salts"),
    ("physicist", "physics", "the conduction of heat in metals"),
    ("botanist", "botany", "the mosses of upland bogs"),
    ("geologist", "geology", "the folding of ancient sandstones"),
    ("astronomer", "astronomy", "the motion of double stars"),
    ("mathematician", "mathematics", "the theory of algebraic curves"),
    ("zoologist", "zoology", "the life cycle of freshwater snails"),
    ("physiologist", "physiology", "the control of breathing"),
    ("meteorologist", "meteorology", "the formation of sea fog"),
    ("engineer", "engineering", "the strength of riveted joints"),
]
PRIZES = [
    "Royal Medal",
    "Copley Medal",
    "Davy Medal",
    "Lyell Medal",
    "Darwin Medal",
    "Hughes Medal",
    "gold medal of the Royal Astronomical Society",
    "Wollaston Medal",
]


def scientist_facts(rng, names):
    given, surname, female = names.person(unique=True)
    job, field, topic = rng.choice(FIELDS)
    born = rng.randint(1790, 1935)
    degree = born + rng.randint(20, 23)
    chair = degree + rng.randint(8, 18)
    died = min(born + rng.randint(55, 92), 2022)
    facts = {
        "title": f"{given} {surname}",
        "full": f"{given} {surname}",
        "surname": surname,
        "job": job,
        "field": field,
        "topic": topic,
        "nation": rng.choice(NATIONS),
        "born": born,
        "died": died,
        "bdate": date(rng, born),
        "ddate": date(rng, died),
        "birthplace": names.any_place(),
        "deathplace": names.any_place(),
        "university": "University of " + names.any_place(),
        "college": names.surname() + " College",
        "degree": degree,
        "doctorate": degree + rng.randint(2, 4),
        "chair": chair,
        "paper": chair + rng.randint(-4, 3),
        "fellow": chair + rng.randint(1, 9),
        "prize": rng.choice(PRIZES),
        "prize_year": min(chair + rng.randint(5, 20), died - 1),
        "mentor": names.full_name(False),
        "student": names.full_name(),
        "father_job": rng.choice(
            [
                "a schoolmaster",
                "a clergyman",
                "a doctor",
                "a shopkeeper",
                "a farmer",
                "a clockmaker",
                "a printer",
                "a mill owner",
            ]
        ),
        "papers": number(rng.randint(40, 320)),
        "book": rng.choice(["On the Nature of ", "A Treatise on ", "Studies in ", "Principles of "])
        + field.capitalize(),
        "book_year": min(chair + rng.randint(2, 15), died - 1),
        "spouse": names.full_name(not female),
        "children": words(rng.randint(2, 5)),
        "lab": names.surname() + " Laboratory",
        "instrument": rng.choice(
            [
                "a new kind of balance",
                "an improved spectroscope",
                "a recording thermometer",
                "a sensitive galvanometer",
                "a portable barometer",
            ]
        ),
        "species_or_law": surname + rng.choice(["'s law", "'s rule", "'s constant", "'s method"]),
        "age": died - born,
        "country": rng.choice(COUNTRIES[:6]),
        "offspring": "daughter" if female else "son",
    }
    facts["a_nation"] = ("an " if facts["nation"][0] in "AEIOU" else "a ") + facts["nation"]
    facts.update(pronouns(female))
    return facts


SCIENTIST = Kind(
    "scientist",
    scientist_facts,
    [
        Section(
            None,
            [
                [
                    "{full} ( {bdate} – {ddate} ) was {a_nation} {job} [known for|remembered for|best known "
                    "for] {his} work on {topic}.",
                    "{full} ( {born} – {died} ) was a {nation} {job} whose [studies|research] of {topic} made {him} one of the [leading|foremost] "
                    "figures in {field} of {his} time.",
                ],
                [
                    "{He} [held|occupied] the chair of {field} at the {university} from {chair}, and was elected "
                    "a Fellow of the Royal Society in {fellow}.",
                    "{He} [spent most of {his} career|taught for many years] at the {university}, [where|and there] "
                    "{he} [founded|directed] the {lab}.",
                ],
                O(
                    0.6,
                    [
                        "{species_or_law} is named after {him}.",
                        "{He} [received|was awarded] the {prize} in {prize_year}.",
                    ],
                ),
            ],
        ),
        Section(
            "[Early life and education|Early life|Biography]",
            [
                [
                    "{surname} was born in {birthplace}, the {offspring} of {father_job}.",
                    "Born in {birthplace} on {bdate}, {surname} was [educated|taught] [at home|at the local "
                    "grammar school] [before entering|and then entered] {college}.",
                ],
                [
                    "{He} studied at the {university}, [graduating|taking {his} degree] in {degree}, and "
                    "[completed|received] a doctorate in {doctorate} under {mentor}.",
                    "At the {university} {he} [came under the influence of|was taught by] {mentor}, [and|who] "
                    "[encouraged {him} to take up|first interested {him} in] {field}.",
                ],
                O(
                    0.5,
                    [
                        "[As a student|While still a student] {he} [published|wrote] a short paper on "
                        "[local fossils|the colours of thin films|the flora of {birthplace}|a problem in "
                        "geometry], [which|and it] [attracted|drew] [some|favourable] notice."
                    ],
                ),
            ],
        ),
        Section(
            "[Career|Scientific career|Research]",
            [
                [
                    "In {chair} {he} was appointed [professor|to the chair] of {field} at the {university}.",
                    "{His} appointment to the chair of {field} in {chair} [allowed|enabled] {him} to [set up|"
                    "equip] the {lab}, [one of the first of its kind|which {he} directed for many years].",
                ],
                [
                    "{His} [most important|best known|chief] work, [published|which appeared] in {paper}, "
                    "[showed|demonstrated] [that|how] {topic} [could be explained by|depended on] [a few simple|"
                    "measurable] [causes|quantities].",
                    "[In|Around] {paper} {he} [published|set out] the results [that|which] [made {his} name|"
                    "established {his} reputation], [describing|a careful study of] {topic}.",
                ],
                O(
                    0.6,
                    [
                        "{He} also [designed|built] {instrument}, which [was widely used|remained in use] "
                        "[for decades|until the 20th century]."
                    ],
                ),
                P,
                [
                    "{His} textbook {book} ( {book_year} ) [ran to|went through] [several|many] editions.",
                    "In {book_year} {he} [published|brought out] {book}, [a textbook|a book] [that|which] "
                    "[was used|remained in use] in universities for [many years|a generation].",
                ],
                [
                    "Over {his} career {he} [wrote|published] [more than|about] {papers} papers.",
                    "{He} [supervised|trained] [many|a number of] students, [among them|including] {student}.",
                ],
            ],
        ),
        Section(
            "[Honours|Honours and awards|Recognition]",
            [
                [
                    "{He} was elected a Fellow of the Royal Society in {fellow} and received the {prize} in "
                    "{prize_year}.",
                    "[Among {his} honours were|{His} honours included] the {prize} ( {prize_year} ) and [several|"
                    "honorary] degrees.",
                ],
                O(0.6, ["{species_or_law} [bears|carries] {his} name."]),
            ],
            p=0.8,
        ),
        Section(
            "[Personal life|Personal life and death|Death]",
            [
                [
                    "{He} married {spouse}, [and they had|with whom {he} had] {children} children.",
                    "{surname} [was married to|married] {spouse}; [the couple|they] had {children} children.",
                ],
                [
                    "{He} died at {deathplace} on {ddate}, aged {age}.",
                    "{surname} died in {deathplace} in {died} at the age of {age}.",
                ],
            ],
        ),
    ],
)

KINDS = [FOOTBALLER, SCIENTIST]
