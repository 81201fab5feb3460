"""Article kinds: bird species and warships."""

from . import Kind, O, P, Section
from .names import BIRDS, COLOURS, EPITHETS, GENUS_A, GENUS_B, PARTS, SHIP_NAMES
from .text import date, decimal, number, words

REGIONS = [
    "the Andes",
    "New Guinea",
    "Borneo",
    "the Philippines",
    "central Africa",
    "Madagascar",
    "the Atlantic Forest of Brazil",
    "southern India",
    "Sulawesi",
    "the Himalayas",
    "eastern Australia",
    "the Caribbean",
    "West Africa",
    "the Solomon Islands",
]
HABITATS = [
    "montane forest",
    "lowland rainforest",
    "mangroves",
    "dry scrub",
    "grassland",
    "secondary forest",
    "riverine woodland",
    "cloud forest",
    "reed beds",
    "savanna",
]
FOODS = [
    "insects",
    "spiders",
    "seeds",
    "small fruits",
    "nectar",
    "snails",
    "beetles",
    "caterpillars",
    "berries",
    "small lizards",
]
STATUS = [
    ("least concern", "widespread and common"),
    ("near threatened", "declining slowly"),
    ("vulnerable", "declining because of forest loss"),
    ("endangered", "confined to a small range"),
]


def bird_facts(rng, names):
    bird = rng.choice(BIRDS)
    common = names.unique(lambda: f"{rng.choice(COLOURS)}-{rng.choice(PARTS)} {bird}")
    genus = rng.choice(GENUS_A) + rng.choice(GENUS_B)
    col1, col2, col3 = rng.sample(COLOURS, 3)
    length = rng.randint(9, 45)
    food1, food2 = rng.sample(FOODS, 2)
    status, trend = rng.choice(STATUS)
    year = rng.randint(1790, 1930)
    return {
        "title": common[0].upper() + common[1:],
        "common": common,
        "bird": bird,
        "binomial": f"{genus} {rng.choice(EPITHETS)}",
        "genus": genus,
        "family": rng.choice(
            [
                "Sylviidae",
                "Muscicapidae",
                "Turdidae",
                "Fringillidae",
                "Thraupidae",
                "Timaliidae",
                "Laniidae",
                "Columbidae",
                "Alcedinidae",
                "Meliphagidae",
            ]
        ),
        "region": rng.choice(REGIONS),
        "habitat": rng.choice(HABITATS),
        "habitat2": rng.choice(HABITATS),
        "describer": names.full_name(False),
        "described": year,
        "collector": names.full_name(False),
        "type_loc": names.foreign_place(),
        "subspecies": words(rng.randint(2, 5)),
        "length": length,
        "length_in": decimal(length / 2.54),
        "mass": rng.randint(8, 400),
        "col1": col1,
        "col2": col2,
        "col3": col3,
        "food1": food1,
        "food2": food2,
        "eggs": words(rng.randint(2, 4)),
        "incubation": rng.randint(12, 19),
        "fledge": rng.randint(12, 24),
        "alt_lo": number(rng.randint(0, 8) * 100),
        "alt_hi": number(rng.randint(10, 32) * 100),
        "status": status,
        "trend": trend,
        "range_km": number(rng.randint(2, 900) * 1000),
        "months": rng.choice(
            ["September to December", "March to June", "the wet season", "the dry season"]
        ),
    }


BIRD = Kind(
    "bird",
    bird_facts,
    [
        Section(
            None,
            [
                [
                    "The {common} ( {binomial} ) is a species of {bird} in the family {family}.",
                    "The {common} ( {binomial} ) is a [small|medium-sized|] {bird} [found|native to|that lives] "
                    "[in|in the forests of] {region}.",
                ],
                [
                    "It [is found|lives|occurs] in {habitat} [and|or] {habitat2} [at elevations between "
                    "{alt_lo} and {alt_hi} metres|from {alt_lo} to {alt_hi} metres above sea level].",
                    "Its natural [habitats|habitat] [are|is] {habitat} and {habitat2}.",
                ],
                [
                    "The IUCN [lists|assesses] it as {status}[, as it is {trend}|].",
                    "It is [classed|listed] as {status} by the IUCN.",
                ],
            ],
        ),
        Section(
            "Taxonomy",
            [
                [
                    "The {common} was [formally described|first described] by {describer} in {described}, "
                    "[from|based on] a specimen [collected|taken] [at|near] {type_loc}.",
                    "{describer} described the species in {described} [from|on the basis of] [a specimen|skins] "
                    "[sent to him by|collected by] {collector}.",
                ],
                [
                    "[The genus name|Its genus name] {genus} [comes from|combines] [Ancient Greek words|Greek "
                    'words] [for|meaning] " [leaf|dark|bright|slender] " and " [bird|lover|tail|song] ".',
                    "[It is placed|It is now placed] in the genus {genus}, [along with|together with] "
                    "[several|two|three] [closely related|similar] species.",
                ],
                O(
                    0.6,
                    [
                        "{subspecies} subspecies are [recognised|currently recognised], [differing|which "
                        "differ] [mainly|chiefly] in [size|the colour of the back|the shade of the breast]."
                    ],
                ),
            ],
        ),
        Section(
            "Description",
            [
                [
                    "The {common} is about {length} cm ( {length_in} in ) long and weighs [about|around] {mass} g.",
                    "Adults measure {length} cm ( {length_in} in ) in length and weigh [about|up to] {mass} g.",
                ],
                [
                    "The [upperparts|back and wings] are {col1}, [while|and] the [underparts|breast and belly] "
                    "are {col2}.",
                    "It has {col1} upperparts, {col2} underparts and a {col3} [crown|throat|rump|patch on the "
                    "wing].",
                ],
                [
                    "[The sexes are alike|Males and females look alike], [but|although] [young birds|juveniles] "
                    "are [duller|browner|paler].",
                    "The female is [slightly smaller|duller] than the male [and lacks|, lacking] the {col3} "
                    "[markings|patch].",
                ],
                O(
                    0.6,
                    [
                        "[Its|The] [song|call] is a [series of|short|loud] [clear whistles|harsh notes|"
                        "descending trills], [often given|usually given] [from a high perch|at dawn]."
                    ],
                ),
            ],
        ),
        Section(
            "[Distribution and habitat|Range and habitat]",
            [
                [
                    "The {common} is [endemic to|found only in|widespread in] {region}.",
                    "[Its|The species '] range [covers|extends over] about {range_km} square kilometres in "
                    "{region}.",
                ],
                [
                    "It [prefers|favours] [the edges of|the understorey of|the canopy of] {habitat}, [and is also "
                    "seen in gardens|and sometimes visits plantations|and also occurs along rivers]."
                ],
            ],
            p=0.8,
        ),
        Section(
            "[Behaviour and ecology|Behaviour|Ecology]",
            [
                [
                    "It [feeds|forages] [mainly|chiefly] on {food1} and {food2}, [taken|which it takes] [from "
                    "leaves|on the ground|in flight|from bark].",
                    "[The diet|Its diet] [consists|is made up] [mostly|largely] of {food1}, [with some|and "
                    "occasionally] {food2}.",
                ],
                [
                    "[It|The species] [usually|often] [forages|feeds] [alone|in pairs|in small groups], [and "
                    "sometimes joins|sometimes joining] mixed-species [flocks|feeding flocks]."
                ],
                P,
                [
                    "Breeding [takes place|occurs] from {months}.",
                    "[The nest|Its nest] is a [cup|dome|shallow platform] of [grass|twigs|moss] [placed|built] "
                    "[in a shrub|low in a tree|in a hollow].",
                ],
                [
                    "The female lays {eggs} eggs, which [are incubated for|hatch after] about {incubation} "
                    "days, and the young [leave the nest|fledge] after about {fledge} days.",
                    "[A clutch|Clutches] of {eggs} eggs [is|are] [laid|usual]; [incubation lasts|the eggs hatch "
                    "after] about {incubation} days.",
                ],
            ],
        ),
        Section(
            "[Status|Conservation]",
            [
                [
                    "[The species|It] is {trend}, and [is|has been] [assessed|rated] as {status}.",
                    "[Clearing|Loss] of {habitat} for [farming|logging|plantations] is the [main|chief] threat "
                    "to the species.",
                ],
            ],
            p=0.6,
        ),
    ],
)

SHIP_CLASSES = [
    "destroyer",
    "light cruiser",
    "sloop",
    "frigate",
    "armoured cruiser",
    "gunboat",
    "minesweeper",
    "corvette",
]
YARDS = [
    "Chatham Dockyard",
    "Portsmouth Dockyard",
    "Devonport Dockyard",
    "Pembroke Dockyard",
    "Sheerness Dockyard",
]


def ship_facts(rng, names):
    ship_name = names.unique(
        lambda: (
            rng.choice(SHIP_NAMES)
            + str(rng.randint(1898, 1916) if rng.random() < 0.5 else rng.randint(1925, 1941))
        )
    )
    name, launched = ship_name[:-4], int(ship_name[-4:])
    first = launched < 1920
    hit_year = rng.randint(max(launched + 1, 1914 if first else 1939), 1918 if first else 1945)
    cls = rng.choice(SHIP_CLASSES)
    big = cls in ("light cruiser", "armoured cruiser")
    disp = rng.randint(3000, 9000) if big else rng.randint(600, 2200)
    length = rng.randint(120, 160) if big else rng.randint(55, 100)
    war = "First World War" if first else "Second World War"
    sold = rng.randint(1919, 1926) if first else rng.randint(1946, 1950)
    return {
        "title": f"HMS {name} ( {launched} )",
        "ship": f"HMS {name}",
        "name": name,
        "cls": cls,
        "class_name": rng.choice(SHIP_NAMES) + "-class"
        if rng.random() < 0.5
        else names.any_place() + "-class",
        "launched": launched,
        "laid": launched - rng.randint(1, 2),
        "ldate": date(rng, launched),
        "commissioned": launched + 1,
        "yard": rng.choice(YARDS)
        if rng.random() < 0.5
        else names.surname() + " and Company of " + names.any_place(),
        "disp": number(disp),
        "length": f"{length} m ( {round(length * 3.28084)} ft )",
        "speed": rng.randint(14, 36),
        "crew": number(rng.randint(60, 600) if big else rng.randint(40, 200)),
        "guns": f"{words(rng.randint(2, 8))} {rng.choice(['4-inch', '6-inch', '4.7-inch', '12-pounder'])}"
        " guns",
        "tubes": words(rng.randint(2, 6)),
        "war": war,
        "fleet": rng.choice(
            [
                "Grand Fleet",
                "Mediterranean Fleet",
                "Home Fleet",
                "Channel Fleet",
                "China Station",
                "Harwich Force",
            ]
        ),
        "captain": names.full_name(False),
        "captain2": names.full_name(False),
        "action": rng.choice(
            [
                "a night action off the Dutch coast",
                "the evacuation of a garrison",
                "a convoy battle in the North Sea",
                "the blockade of an enemy port",
                "a raid on a coastal battery",
            ]
        ),
        "hit_year": hit_year,
        "dead": words(rng.randint(3, 19)),
        "sold": sold,
        "breaker": names.any_place(),
        "sister": rng.choice(SHIP_NAMES),
        "port": names.any_place(),
        "refit": rng.randint(launched + 1, max(launched + 1, hit_year - 1)),
    }


SHIP = Kind(
    "ship",
    ship_facts,
    [
        Section(
            None,
            [
                [
                    "{ship} was a {class_name} {cls} of the Royal Navy [that served in|which saw service in] "
                    "the {war}.",
                    "{ship} was a {cls} of the Royal Navy, launched in {launched} [at|by] {yard}.",
                ],
                [
                    "She served [with|in] the {fleet} [during the {war}|for most of her career] and [took part "
                    "in|was present at] {action}.",
                    "[During|In] the {war} she [served|was assigned] [with|to] the {fleet}, [and|where she] "
                    "[took part in|saw action in] {action}.",
                ],
                [
                    "She was sold for scrap in {sold}.",
                    "[The ship|She] was [paid off|decommissioned] after the war and sold for [breaking up|scrap] "
                    "in {sold}.",
                ],
            ],
        ),
        Section(
            "[Design and description|Design|Description]",
            [
                [
                    "{ship} had a displacement of {disp} long tons and was {length} long.",
                    "The ship was {length} long [overall|] and displaced {disp} long tons.",
                ],
                [
                    "[Her|The ship 's] [engines|steam turbines|triple-expansion engines] gave a top speed of "
                    "{speed} knots.",
                    "She [could reach|had a designed speed of] {speed} knots, [and|while] her [crew numbered|"
                    "complement was] {crew} officers and ratings.",
                ],
                [
                    "She was armed with {guns} and {tubes} torpedo tubes.",
                    "[Her|The] [main|] armament [consisted of|was] {guns}, [with|and] {tubes} torpedo tubes.",
                ],
            ],
        ),
        Section(
            "[Construction|Construction and career|Service history]",
            [
                [
                    "{ship} was laid down [at|by] {yard} in {laid} and launched on {ldate}.",
                    "[The ship|She] was [ordered|laid down] in {laid} and [launched|floated out] on {ldate}.",
                ],
                [
                    "She was commissioned in {commissioned} under the command of {captain} and [joined|was "
                    "assigned to] the {fleet}.",
                    "[After|Following] [trials|sea trials], she [was commissioned|entered service] in "
                    "{commissioned}, [with {captain} in command|commanded by {captain}].",
                ],
                P,
                [
                    "[In|During] {hit_year} she [took part in|was involved in] {action}, [during which|in which] "
                    "she was [hit|struck] [several times|by a shell|by shellfire] and {dead} of her crew were "
                    "killed.",
                    "Her [most notable|best known] action [was|came during] {action} in {hit_year}, [when she|"
                    "in which she] [damaged|drove off] [an enemy|a German] [destroyer|ship|vessel].",
                ],
                O(
                    0.6,
                    [
                        "She was [refitted|repaired] at {port} in {refit}, and {captain2} [took|assumed] "
                        "command [afterwards|later that year]."
                    ],
                ),
                [
                    "[After|At the end of] the war she was placed in reserve, and she was sold to [ship "
                    "breakers|a firm] at {breaker} in {sold}.",
                    "[Paid off|Reduced to reserve] [after|at the end of] the war, {ship} was [sold|broken up] "
                    "[at|in] {breaker} in {sold}.",
                ],
            ],
        ),
    ],
)

KINDS = [BIRD, SHIP]
