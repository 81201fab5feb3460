"""Article kinds about events: battles and tropical cyclones."""

from . import Kind, O, P, Section
from .names import STORM_NAMES
from .text import MONTHS, number, words

WARS = [
    "the Hundred Years' War",
    "the Wars of the Roses",
    "the Thirty Years' War",
    "the English Civil War",
    "the War of the Spanish Succession",
    "the Seven Years' War",
    "the Napoleonic Wars",
    "the Great Northern War",
    "the Nine Years' War",
    "the War of the Austrian Succession",
]
ARMIES = [
    ("a royalist army", "a parliamentarian army"),
    ("an English army", "a French army"),
    ("a Swedish army", "a Danish army"),
    ("an Austrian army", "a Prussian army"),
    ("a Scottish army", "an English army"),
    ("an imperial army", "a rebel army"),
]


def battle_facts(rng, names):
    place = names.place()
    war_i = rng.randrange(len(WARS))
    year = [1350, 1460, 1625, 1643, 1706, 1758, 1809, 1705, 1691, 1744][war_i] + rng.randint(-4, 4)
    army_a, army_b = rng.choice(ARMIES)
    if rng.random() < 0.5:
        army_a, army_b = army_b, army_a
    men_a, men_b = rng.randint(30, 250) * 100, rng.randint(30, 250) * 100
    a_wins = rng.random() < 0.5
    month = rng.choice(MONTHS[2:10])
    return {
        "title": f"Battle of {place}",
        "place": place,
        "war": WARS[war_i],
        "year": year,
        "day": rng.randint(1, 27),
        "month": month,
        "army_a": army_a,
        "army_b": army_b,
        "cmd_a": names.full_name(False),
        "cmd_b": names.full_name(False),
        "sub_a": names.full_name(False),
        "men_a": number(men_a),
        "men_b": number(men_b),
        "river": names.any_place(),
        "town": names.any_place(),
        "hill": names.any_place() + rng.choice([" Hill", " Ridge", " Heath", " Down"]),
        "dead_a": number(rng.randint(2, 30) * 50),
        "dead_b": number(rng.randint(2, 30) * 50),
        "prisoners": number(rng.randint(2, 40) * 50),
        "guns": words(rng.randint(4, 20)),
        "hours": words(rng.randint(3, 9)),
        "monument": min(year + rng.randint(100, 250), 2010),
        "siege": rng.choice(
            [
                "the siege of " + names.any_place(),
                "the march on " + names.any_place(),
                "the capture of " + names.any_place(),
            ]
        ),
        "the_a": the(army_a),
        "the_b": the(army_b),
        "vic": the(army_a) if a_wins else the(army_b),
        "los": the(army_b) if a_wins else the(army_a),
    }


def the(army):
    return "the " + army.split(" ", 1)[1]


BATTLE = Kind(
    "battle",
    battle_facts,
    [
        Section(
            None,
            [
                [
                    "The Battle of {place} was fought on {day} {month} {year} [near|at] {place}, during {war}.",
                    "The Battle of {place} [took place|was fought] [near the village of|at] {place} on {day} "
                    "{month} {year}, [in the course of|as part of] {war}.",
                ],
                [
                    "{army_a} [under|commanded by] {cmd_a} [attacked|engaged] {army_b} [led by|under] {cmd_b}.",
                    "It was fought between {army_a} of about {men_a} men under {cmd_a} and {army_b} of about "
                    "{men_b} under {cmd_b}.",
                ],
                [
                    "The battle ended in a [decisive|clear|narrow|costly] victory for {vic}.",
                    "[After|Following] {hours} hours of fighting, {los} [was forced to withdraw|retreated|was "
                    "routed], [leaving {vic} in control of the field|and {vic} "
                    "held the field].",
                ],
            ],
        ),
        Section(
            "Background",
            [
                [
                    "[By|In the spring of] {year} {war} had [reached|entered] [a decisive stage|its [third|"
                    "fourth] year|a long stalemate].",
                    "In the [months|weeks] before the battle, {cmd_b} had [been ordered|tried] to [hold|protect] "
                    "the crossing of the River {river} [near|at] {place}.",
                ],
                [
                    "{cmd_a} [hoped|intended] to [force a battle|bring {the_b} to battle] before [winter|"
                    "reinforcements arrived|its supplies ran out].",
                    "[News|Word] that {the_b} was [camped|gathering] near {town} [led|persuaded] {cmd_a} to "
                    "[march|advance] [quickly|at night] towards {place}.",
                ],
                O(
                    0.5,
                    [
                        "[Both|The two] commanders [were experienced|had fought each other before|were known "
                        "for their caution]."
                    ],
                ),
            ],
        ),
        Section(
            "[Battle|The battle|Course of the battle]",
            [
                [
                    "{the_b} [drew up|formed up|took up a position] on {hill}, with the River {river} [on its "
                    "left|behind it|protecting one flank].",
                    "[On the morning of|Early on] {day} {month}, {the_b} [was found|stood] [in a strong "
                    "position|on high ground] at {hill}.",
                ],
                [
                    "{cmd_a} opened the battle with [an artillery bombardment|an attack on the left|a cavalry "
                    "charge], [which|but this] [made little progress|was driven back|caused heavy losses].",
                    "The [fighting|battle] began [at about|around] [nine|ten|eleven] o'clock, when "
                    "[skirmishers|cavalry|infantry] [clashed|met] [near|in front of] {hill}.",
                ],
                P,
                [
                    "[In the afternoon|By midday] {sub_a} [led|made] a [second|renewed|fresh] [attack|assault] "
                    "[on|against] the [centre|right flank|left flank] [, which|and this] [proved decisive|broke "
                    "the line|turned the battle].",
                    "[The turning point came|The decisive moment came] when [a flanking force|the reserve|"
                    "fresh troops] [reached|arrived on] the field [in the late afternoon|towards evening].",
                ],
                [
                    "[By evening|At nightfall] {los} [was in retreat|was falling back] towards {town}, "
                    "[abandoning|leaving behind] {guns} guns.",
                    "{los} [withdrew|fell back] [in good order|in confusion] [across|over] the River {river}.",
                ],
            ],
        ),
        Section(
            "Aftermath",
            [
                [
                    "{the_a} lost about {dead_a} [men|killed and wounded], and {the_b} about {dead_b}.",
                    "[Casualties|Losses] were [heavy|severe] on both sides: about {dead_a} [men|] for {the_a} "
                    "and {dead_b} for {the_b}; {prisoners} [men|soldiers] were taken prisoner.",
                ],
                [
                    "The [victory|result] [opened the way|cleared the way|led directly] to {siege}.",
                    "[Historians|Later writers] have [seen|regarded] the battle as [a turning point|an "
                    "important step|a missed opportunity] in {war}.",
                ],
                O(
                    0.6,
                    [
                        "A monument [to the dead|marking the site] was [raised|erected] [on|near] {hill} in "
                        "{monument}.",
                        "[Part|Much] of the battlefield [remains|is still] [farmland|open ground], and [a "
                        "monument|a memorial stone] was [placed|put up] there in {monument}.",
                    ],
                ),
            ],
        ),
    ],
)


def storm_facts(rng, names):
    name = names.unique(lambda: rng.choice(STORM_NAMES) + str(rng.randint(1960, 2019)))
    storm, year = name[:-4], int(name[-4:])
    hurricane = rng.random() < 0.7
    category = rng.randint(1, 5) if hurricane else 0
    wind_kmh = [
        rng.randint(85, 115),
        rng.randint(120, 150),
        rng.randint(155, 175),
        rng.randint(180, 205),
        rng.randint(210, 240),
        rng.randint(250, 280),
    ][category]
    month = rng.choice(["June", "July", "August", "September", "October"])
    form_day = rng.randint(1, 18)
    land = rng.choice(
        [
            "the Lesser Antilles",
            "Hispaniola",
            "Cuba",
            "the Bahamas",
            "Bermuda",
            "the Yucatán Peninsula",
            "Florida",
            "Louisiana",
            "the Carolinas",
            "Texas",
        ]
    )
    kind = f"Category {category} hurricane" if hurricane else "tropical storm"
    return {
        "title": f"Hurricane {storm} ( {year} )"
        if hurricane
        else f"Tropical Storm {storm} ( {year} )",
        "storm": storm,
        "full": ("Hurricane " if hurricane else "Tropical Storm ") + storm,
        "year": year,
        "kind": kind,
        "a_kind": "a " + kind,
        "month": month,
        "form": f"{form_day} {month}",
        "peak_day": f"{form_day + rng.randint(2, 5)} {month}",
        "end": f"{form_day + rng.randint(6, 10)} {month}",
        "wind": f"{wind_kmh} km/h ( {round(wind_kmh * 0.621371)} mph )",
        "pressure": rng.randint(925, 1000) if hurricane else rng.randint(990, 1006),
        "land": land,
        "land2": rng.choice(
            [
                "Jamaica",
                "Puerto Rico",
                "the Cayman Islands",
                "Georgia",
                "Alabama",
                "Mississippi",
                "Virginia",
            ]
        ),
        "origin": rng.choice(
            [
                "a tropical wave",
                "a tropical wave",
                "an area of low pressure",
                "the remnants of a frontal system",
            ]
        ),
        "coast": rng.choice(
            [
                "the west coast of Africa",
                "the Cape Verde Islands",
                "the central Atlantic",
                "the western Caribbean",
                "the Gulf of Mexico",
            ]
        ),
        "deaths": rng.randint(0, 60),
        "damage": f"{rng.randint(2, 950)} million",
        "rain": rng.randint(120, 700),
        "homes": number(rng.randint(20, 900) * 10),
        "season": f"{year} Atlantic hurricane season",
        "nth": rng.choice(["third", "fourth", "fifth", "sixth", "seventh", "eighth", "tenth"]),
        "town": names.any_place(),
        "evac": number(rng.randint(2, 150) * 1000),
        "retired": "was retired" if hurricane and category >= 4 else "was not retired",
        "surge": f"{rng.uniform(1.0, 5.5):.1f}",
    }


STORM = Kind(
    "storm",
    storm_facts,
    [
        Section(
            None,
            [
                [
                    "{full} was {a_kind} that [affected|struck|caused damage in] {land} in {month} {year}.",
                    "{full} was a [destructive|long-lived|minor but deadly|costly] tropical cyclone that "
                    "[struck|affected] {land} [and {land2}|] during the {season}.",
                ],
                [
                    "The {nth} named storm of the season, {storm} [developed|formed] from {origin} on {form} "
                    "and [reached|attained] peak winds of {wind}.",
                    "{storm} formed on {form} [from|out of] {origin} and [strengthened|intensified] [steadily|"
                    "rapidly] [over warm waters|as it moved west].",
                ],
                [
                    "The storm [caused|was responsible for] {deaths} deaths and about ${damage} in damage.",
                    "[Damage|The damage] [was estimated at|totalled] ${damage}, and {deaths} people [were "
                    "killed|died].",
                ],
            ],
        ),
        Section(
            "Meteorological history",
            [
                [
                    "{origin} [moved off|emerged from|formed near] {coast} in [early|mid] {month}.",
                    "The [storm|system] [originated|had its origins] in {origin} [near|over] {coast}.",
                ],
                [
                    "[Conditions|Conditions in the area] [favoured|were favourable for] [development|"
                    "strengthening], and a tropical depression formed on {form}.",
                    "[Organised|Steady] [convection|thunderstorm activity] [developed|increased], and the "
                    "system was [classified|designated] a tropical depression on {form}.",
                ],
                [
                    "It [reached|attained] its peak intensity on {peak_day}, with [maximum|sustained] winds of "
                    "{wind} and a minimum pressure of {pressure} mbar.",
                    "[Continuing to strengthen|Strengthening further], {storm} reached peak winds of {wind} on "
                    "{peak_day}.",
                ],
                P,
                [
                    "[The storm|{storm}] [made landfall|came ashore] [in|on] {land} [near|close to] {town} "
                    "[shortly after|not long after] [its peak|reaching its peak].",
                    "[Weakening|Slowly weakening] [as it approached land|over cooler waters], {storm} made "
                    "landfall [on|in] {land}.",
                ],
                [
                    "[It|The storm] [weakened|decayed] [quickly|gradually] [over land|inland] and "
                    "[dissipated|became extratropical] on {end}."
                ],
            ],
        ),
        Section(
            "[Preparations|Preparations and impact|Impact]",
            [
                [
                    "[Ahead of the storm|Before the storm arrived], [officials|the authorities] [ordered|"
                    "advised] the evacuation of [about|some] {evac} people [from|along] [low-lying|coastal] "
                    "areas.",
                    "[Warnings|Hurricane warnings] were issued for {land} [two days|a day|36 hours] before "
                    "landfall, and {evac} people [left|were evacuated from] [coastal|low-lying] areas.",
                ],
                [
                    "[Heavy rain|Rainfall] of up to {rain} mm [fell|was recorded] [near|at] {town}, causing "
                    "[flash flooding|widespread flooding|landslides].",
                    "[A|The] storm surge of {surge} m [flooded|swept over] [parts of|the waterfront of] {town}.",
                ],
                [
                    "About {homes} [homes|houses|buildings] were [damaged|destroyed or damaged], [and|while] "
                    "[power|electricity] [was cut|failed] for [thousands of|many] [homes|people].",
                    "[Strong|High] winds [brought down|uprooted] [trees|power lines] and [damaged|tore the roofs "
                    "from] about {homes} homes.",
                ],
                O(
                    0.6,
                    [
                        "In {land2}, [the storm|{storm}] [brought|caused] [heavy rain|minor flooding|strong "
                        "winds] [but|though] [little|no serious] damage."
                    ],
                ),
            ],
        ),
        Section(
            "Aftermath",
            [
                [
                    "[Relief|Aid] [efforts|supplies] [began|arrived] [within days|soon after the storm], "
                    "[and|while] [the government|officials] [declared|announced] a [state of emergency|disaster "
                    "area].",
                    "[After the storm|In the aftermath], [volunteers|the Red Cross] [provided|set up] [shelter|"
                    "food and water] for [those|people] [left homeless|who had lost their homes].",
                ],
                ["The name {storm} {retired}."],
            ],
            p=0.85,
        ),
    ],
)

KINDS = [BATTLE, STORM]
