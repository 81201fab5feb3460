"""Article kinds about places: towns, rivers and bridges."""

from . import Kind, O, P, Section
from .names import COUNTRIES
from .text import date, km_mi, m_ft, number, ordinal, words

SAINTS = [
    "St Mary",
    "St Andrew",
    "St Michael",
    "St Peter",
    "St John the Baptist",
    "St Lawrence",
    "All Saints",
    "Holy Trinity",
    "St Nicholas",
    "St Margaret",
    "St Helen",
    "St Giles",
]
INDUSTRIES = [
    "wool",
    "lace",
    "brewing",
    "shipbuilding",
    "coal mining",
    "paper making",
    "leather tanning",
    "quarrying",
    "glass making",
    "rope making",
    "salt production",
    "iron working",
]
KINGS = [
    ("King John", 1199, 1216),
    ("Henry III", 1217, 1272),
    ("Edward I", 1273, 1307),
    ("Edward III", 1327, 1377),
    ("Richard II", 1377, 1399),
    ("Henry VI", 1422, 1461),
]
DIRECTIONS = [
    "north",
    "south",
    "east",
    "west",
    "north-east",
    "north-west",
    "south-east",
    "south-west",
]


def town_facts(rng, names):
    name = names.place()
    country = rng.choice(["England", "England", "England", "Wales"])
    king, first, last = rng.choice(KINGS)
    charter = rng.randint(first, last)
    railway = rng.randint(1838, 1885)
    pop = rng.randint(18, 600) * 100 + rng.randint(0, 99)
    return {
        "title": name,
        "name": name,
        "country": country,
        "district": names.any_place() + rng.choice(["shire", " District", " Vale"]),
        "river": names.any_place(),
        "city": names.place(),
        "dist": km_mi(rng.randint(8, 70)),
        "dir": rng.choice(DIRECTIONS),
        "census": rng.choice([2001, 2011, 2021]),
        "pop": number(pop),
        "oldpop": number(int(pop * rng.uniform(0.15, 0.45))),
        "oldyear": rng.choice([1801, 1811, 1821]),
        "century": ordinal(rng.randint(9, 12)),
        "charter": charter,
        "king": king,
        "fire": charter + rng.randint(120, 260),
        "industry": rng.choice(INDUSTRIES),
        "industry2": rng.choice(INDUSTRIES),
        "railway": railway,
        "closure": rng.randint(1951, 1968),
        "saint": rng.choice(SAINTS),
        "church_c": ordinal(rng.randint(12, 15)),
        "elev": m_ft(rng.randint(12, 240)),
        "school": names.surname() + rng.choice([" Academy", " School", " Grammar School"]),
        "founder": names.full_name(False),
        "mp": names.full_name(),
        "fair": rng.choice(["Whitsun", "Michaelmas", "midsummer", "Easter"]),
        "club": name + rng.choice([" Town F.C.", " Rovers", " Cricket Club", " Rugby Club"]),
        "road": "A" + str(rng.randint(30, 699)),
        "mill_n": words(rng.randint(3, 9)),
        "twin": names.foreign_place(),
    }


TOWN = Kind(
    "town",
    town_facts,
    [
        Section(
            None,
            [
                [
                    "{name} is a [market town|small town|town and civil parish|town] in {district}, {country}.",
                    "{name} is a [historic|former mill|small] town [and civil parish|] in the {district} area of {country}.",
                ],
                [
                    "It lies [on the River {river}|on the banks of the River {river}|close to the River {river}], "
                    "about {dist} {dir} of {city}.",
                    "The town stands about {dist} {dir} of {city}, [where|at the point where] the {road} road "
                    "crosses the River {river}.",
                ],
                [
                    "At the {census} census the [town|parish] had a population of {pop}.",
                    "[Its|The] population [was|was recorded as] {pop} at the {census} census.",
                ],
                O(
                    0.7,
                    [
                        "{name} grew around its {industry} industry in the [18th|19th] century, and [several|many] "
                        "of its [old|former] [mills|warehouses|workshops] [survive|still stand].",
                        "[Once|For centuries] a centre of the {industry} trade, the town is now [chiefly|largely] "
                        "residential.",
                    ],
                ),
            ],
        ),
        Section(
            "History",
            [
                [
                    "A settlement at {name} is first recorded in the {century} century, when [it|the manor] was "
                    "held by [a minor lord|the local abbey|the bishop of {city}].",
                    "The name {name} is thought to derive from [an Old English|an early] word for [a ford|a clearing|"
                    "a farmstead|a river crossing], and the place is first mentioned in the {century} century.",
                ],
                [
                    "In {charter} {king} granted the town a charter to hold a weekly market and an annual {fair} fair.",
                    "The town received its market charter from {king} in {charter}, and the market place laid out at "
                    "that time still forms the centre of {name}.",
                ],
                O(
                    0.6,
                    [
                        "A fire in {fire} destroyed much of the [timber|medieval] town, which was rebuilt in "
                        "[brick|stone].",
                        "Much of the old town was lost in a great fire in {fire}, and the rebuilding gave {name} "
                        "the [brick|stone] [houses|frontages] that [line|still line] its main street.",
                    ],
                ),
                P,
                [
                    "During the [18th|19th] century {name} became known for {industry}, and by [1830|1850|1860] the "
                    "town had {mill_n} [mills|works|factories].",
                    "The growth of the {industry} trade in the [late 18th|early 19th] century brought new [wealth|"
                    "workers|houses] to {name}, and its population rose from {oldpop} in {oldyear} to [more than "
                    "double that figure|several times that number] by [1900|the end of the century].",
                ],
                [
                    "The railway reached the town in {railway}, [although|but] the [line|station] was closed in "
                    "{closure}.",
                    "A station on the line to {city} opened in {railway}; it [closed to passengers|was closed] in "
                    "{closure} [and the track was later lifted|and the site is now a car park].",
                ],
                O(
                    0.5,
                    [
                        "In the 20th century the {industry} industry declined, and [most|the last] of the "
                        "[mills|works] closed in the [1960s|1970s|1980s].",
                        "After the Second World War the town [expanded|grew] with new housing estates to the "
                        "{dir}, and [light industry|small businesses] replaced the old {industry} trade.",
                    ],
                ),
            ],
        ),
        Section(
            "[Geography|Geography and climate]",
            [
                [
                    "{name} lies at an elevation of about {elev}, [in the shallow valley of the River {river}|on "
                    "a low ridge above the River {river}|on the floodplain of the River {river}].",
                    "The town is built [on a gentle slope|on rising ground|on a bend] above the River {river}, at "
                    "about {elev} above sea level.",
                ],
                [
                    "The surrounding [countryside|land] is [mainly|largely] [farmland|pasture|arable farmland], with "
                    "[patches of woodland|small woods|hedged fields] to the {dir}.",
                    "[Flooding|Winter flooding] from the river has [affected|troubled] the lower part of the town, "
                    "and flood defences were built [in the 1990s|after 2000|in 2007].",
                ],
                O(
                    0.6,
                    [
                        "Like the rest of {country}, {name} has a [temperate|mild] [maritime|oceanic] climate, with "
                        "[cool|mild] summers and [wet|damp] winters."
                    ],
                ),
            ],
            p=0.85,
        ),
        Section(
            "Economy",
            [
                [
                    "[Today|Now] the [largest|main] employers in {name} are [retail|the local council|a food "
                    "processing plant|a distribution centre] and [tourism|the services sector|light engineering].",
                    "The economy of {name} [now depends|depends] [mainly|largely] on [services|retail|tourism], "
                    "[although|while] [a small number of|several] [firms|workshops] still [work in|practise] "
                    "{industry2}.",
                ],
                [
                    "The weekly market is still held [every Thursday|each Saturday|on Wednesdays] in the market "
                    "place.",
                    "Many residents [commute|travel to work] to {city}, [which|and the city] is about {dist} away.",
                ],
            ],
            p=0.8,
        ),
        Section(
            "[Landmarks|Notable buildings|Culture and landmarks]",
            [
                [
                    "The parish church of {saint} dates [mainly|largely] from the {church_c} century and is a "
                    "[Grade I|Grade II*] listed building.",
                    "The oldest building in the town is the church of {saint}, [whose tower|whose nave] dates from "
                    "the {church_c} century.",
                ],
                [
                    "[Other|Notable] buildings include the [former|old] town hall, [built|completed] in "
                    "[1798|1824|1856|1871], and [a row of|several] [timber-framed|Georgian] houses on [the|its] "
                    "[High Street|Market Street|Bridge Street].",
                    "The [old|former] {industry} [mill|works] beside the river has been [converted into flats|"
                    "turned into a museum|restored as an arts centre].",
                ],
                O(
                    0.6,
                    [
                        "{school} is the town 's [secondary school|main school] and was founded in "
                        "[1552|1611|1702|1874] by {founder}.",
                        "The town is home to {club}, [founded in|which was formed in] [1879|1888|1902|1921].",
                    ],
                ),
                O(
                    0.4,
                    [
                        "{name} is twinned with {twin}.",
                        "Since [1974|1981|1992] {name} has been twinned with the town of {twin}.",
                    ],
                ),
            ],
        ),
        Section(
            "Transport",
            [
                [
                    "The {road} road passes [through|to the {dir} of] the town, linking it with {city}.",
                    "{name} is [served|connected] by the {road} road and by [regular|frequent] bus services to "
                    "{city}.",
                ],
                O(
                    0.6,
                    [
                        "The nearest [railway station|station] [is|is now] at {city}, [since|because] the town 's "
                        "own station closed in {closure}."
                    ],
                ),
            ],
            p=0.6,
        ),
    ],
)

RIVER_ROCK = ["limestone", "chalk", "sandstone", "granite", "clay", "shale", "slate"]
FISH = ["brown trout", "grayling", "salmon", "chub", "dace", "barbel", "eel", "pike", "perch"]


def river_facts(rng, names):
    name = names.place()
    length = rng.randint(18, 140)
    title = f"River {name}" if rng.random() < 0.7 else f"{name} River"
    source_elev = rng.randint(180, 640)
    return {
        "title": title,
        "name": name,
        "rname": title,
        "country": rng.choice(COUNTRIES[:4]),
        "length": km_mi(length),
        "source": names.any_place() + rng.choice([" Moor", " Hill", " Fell", " Common"]),
        "source_elev": m_ft(source_elev),
        "mouth": names.any_place(),
        "into": rng.choice(
            ["the sea", "the estuary", "a larger river", "the River " + names.any_place()]
        ),
        "trib1": names.any_place() + rng.choice([" Brook", " Water", " Beck", ""]),
        "trib2": names.any_place() + rng.choice([" Brook", " Water", " Burn", ""]),
        "town1": names.any_place(),
        "town2": names.any_place(),
        "town3": names.any_place(),
        "rock": rng.choice(RIVER_ROCK),
        "rock2": rng.choice(RIVER_ROCK),
        "catch": number(rng.randint(90, 1800)),
        "flow": f"{rng.uniform(0.8, 30):.1f}",
        "flood": rng.randint(1860, 2015),
        "canal": rng.randint(1760, 1835),
        "locks": words(rng.randint(4, 19)),
        "fish": rng.choice(FISH),
        "fish2": rng.choice(FISH),
        "mills": words(rng.randint(5, 20)),
        "gauge": names.any_place(),
        "dir": rng.choice(DIRECTIONS),
        "sssi": rng.randint(1978, 2005),
    }


RIVER = Kind(
    "river",
    river_facts,
    [
        Section(
            None,
            [
                [
                    "The {rname} is a river in {country}.",
                    "The {rname} is a [small|short|long] river [that flows|which flows|flowing] through [the "
                    "counties of|the farmland of] the [north|south|east|west] of {country}.",
                ],
                [
                    "It rises on {source} and flows [generally|mainly] {dir} for {length} [before joining|to join] "
                    "{into} at {mouth}.",
                    "From its source on {source} it runs for {length} to {mouth}, where it [enters|meets] {into}.",
                ],
                O(
                    0.7,
                    [
                        "[Its|The river 's] catchment covers about {catch} square kilometres, and [its|the] main "
                        "tributaries are the {trib1} and the {trib2}.",
                        "The {trib1} and the {trib2} are [its largest|the largest of its] tributaries.",
                    ],
                ),
            ],
        ),
        Section(
            "Course",
            [
                [
                    "The river [rises|has its source] at about {source_elev} [above sea level|] on {source}, "
                    "[in an area of|among] [rough grazing|peat bog|moorland|upland pasture].",
                    "Its source is a [group of springs|spring|small pool] on {source}, at a height of about "
                    "{source_elev}.",
                ],
                [
                    "It [descends|falls] [steeply|quickly] through a [narrow|wooded] valley and [passes|flows "
                    "past] the village of {town1}, where it is joined by the {trib1}.",
                    "Below {town1} the valley [widens|opens out] and the river [begins to meander|meanders] across "
                    "a broad floodplain.",
                ],
                [
                    "It then flows through the town of {town2}, [which|and the town] grew up at [an early crossing|a "
                    "ford] of the river.",
                    "The largest [town|settlement] on its [banks|course] is {town2}, [where the river is crossed by "
                    "several bridges|where it is crossed by a medieval bridge].",
                ],
                P,
                [
                    "[Downstream of|Below] {town2} the {trib2} joins from the [left|right], and the river [turns|bends] "
                    "towards {mouth}.",
                    "In its lower course the river passes {town3} and becomes [tidal|slow and deep] [before|as it "
                    "approaches] {mouth}.",
                ],
                O(
                    0.5,
                    [
                        "The [lower|last few kilometres of the] river [are|is] [lined with|bordered by] [salt "
                        "marsh|reed beds|flood banks]."
                    ],
                ),
            ],
        ),
        Section(
            "[Geology|Geology and hydrology|Hydrology]",
            [
                [
                    "The upper [valley|course] is cut into {rock}, [while|and] the lower course crosses [beds of "
                    "{rock2}|softer {rock2}].",
                    "The river 's [upper|headwater] streams drain [ground of|an area of] {rock}, and the [water|"
                    "river] is [clear|hard|peaty] as a result.",
                ],
                [
                    "[The|Its] mean flow at the gauging station at {gauge} is {flow} cubic metres per second.",
                    "Measurements at {gauge} give a mean flow of {flow} cubic metres per second, [with the highest "
                    "flows in winter|rising sharply after heavy rain].",
                ],
                O(
                    0.7,
                    [
                        "The [worst|highest] recorded flood was in {flood}, when [much of|parts of] {town2} "
                        "[was|were] under water.",
                        "Serious floods [occurred|have occurred] in {flood}, [after which|and afterwards] [flood "
                        "banks|new defences] were [raised|built] at {town2}.",
                    ],
                ),
            ],
            p=0.8,
        ),
        Section(
            "History",
            [
                [
                    "The river [once|formerly] powered {mills} [water mills|mills], [used for|grinding] "
                    "[grain|corn] and later [for|working] [cloth|paper|timber].",
                    "[There were|At least] {mills} mills on the river [in the 19th century|by 1850], [most of "
                    "which|of which several] survive as [houses|ruins].",
                ],
                O(
                    0.6,
                    [
                        "A [canal|navigation] with {locks} locks was built [alongside the lower river|to "
                        "{town2}] in {canal}, but it [fell out of use|was abandoned] after the [railways|railway] "
                        "arrived.",
                        "Plans [made|put forward] in {canal} to make the river navigable to {town2} [were never "
                        "carried out|came to nothing].",
                    ],
                ),
            ],
            p=0.8,
        ),
        Section(
            "[Ecology|Wildlife|Ecology and conservation]",
            [
                [
                    "The river [supports|holds] [good|healthy] populations of {fish} and {fish2}, and otters "
                    "[have returned|returned] [in recent years|since the 1990s].",
                    "{fish} and {fish2} are [found|common] in the river, [which|and it] is [popular|well known] "
                    "with anglers.",
                ],
                O(
                    0.7,
                    [
                        "[Part|Much] of the river was [designated|notified] as a Site of Special Scientific "
                        "Interest in {sssi}.",
                        "[Its banks|The riverbanks] [provide|are a] habitat for [kingfishers|dippers|water voles] "
                        "and [several|many] [rare|uncommon] plants.",
                    ],
                ),
            ],
            p=0.75,
        ),
    ],
)

BRIDGE_TYPES = [
    "stone arch",
    "iron arch",
    "suspension",
    "brick arch",
    "cantilever",
    "truss",
    "concrete arch",
    "cable-stayed",
    "steel girder",
]


def bridge_facts(rng, names):
    place = names.place()
    opened = rng.randint(1780, 1990)
    main = rng.randint(30, 420)
    total = main + rng.randint(40, 700)
    kind = rng.choice(
        BRIDGE_TYPES[:4]
        if opened < 1850
        else BRIDGE_TYPES[:6] + ["steel girder"]
        if opened < 1900
        else BRIDGE_TYPES[2:]
    )
    if kind == "cable-stayed" and opened < 1955:
        kind = "concrete arch"
    return {
        "title": f"{place} Bridge",
        "name": f"{place} Bridge",
        "place": place,
        "kind": kind,
        "river": names.any_place(),
        "country": rng.choice(COUNTRIES[:3]),
        "engineer": names.full_name(False),
        "contractor": names.surname()
        + rng.choice([" and Sons", " Brothers", " and Company", " Construction"]),
        "begun": opened - rng.randint(2, 6),
        "opened": opened,
        "odate": date(rng, opened),
        "main": m_ft(main),
        "total": m_ft(total),
        "height": m_ft(rng.randint(8, 60)),
        "spans": words(rng.randint(3, 11)),
        "cost": number(rng.randint(18, 900) * 1000),
        "town2": names.any_place(),
        "ferry": opened - rng.randint(20, 300),
        "repair": min(opened + rng.randint(25, 80), 2019),
        "vehicles": number(rng.randint(4, 60) * 1000),
        "listed": min(opened + rng.randint(20, 60), 2015),
        "toll": min(opened + rng.randint(8, 60), 2012),
        "opener": rng.choice(
            [
                "the Prince of Wales",
                "the Lord Mayor",
                "the Duke of " + names.any_place(),
                "the minister of transport",
                "the local member of parliament",
            ]
        ),
    }


BRIDGE = Kind(
    "bridge",
    bridge_facts,
    [
        Section(
            None,
            [
                [
                    "{name} is a {kind} bridge [over|across] the River {river} [at|near] {place}, {country}.",
                    "{name} [carries|takes] [a road|the main road|road traffic] across the River {river} between "
                    "{place} and {town2}, {country}.",
                ],
                [
                    "Designed by {engineer}, it opened in {opened}.",
                    "It was [designed|built to a design] by the engineer {engineer} and opened in {opened}.",
                ],
                O(
                    0.7,
                    [
                        "With a main span of {main}, it was [for a time|when completed] the longest bridge of its "
                        "type in {country}.",
                        "The bridge is {total} long, with a main span of {main}.",
                    ],
                ),
            ],
        ),
        Section(
            "[History|Background]",
            [
                [
                    "Before the bridge was built the river was crossed by a ferry, [first recorded|known from] "
                    "{ferry}.",
                    "[For centuries|Since at least {ferry}] the only crossing [here|at this point] was a "
                    "[ferry|ford], which was [often|frequently] [dangerous|impassable] in winter.",
                ],
                [
                    "[Growing|Increasing] traffic [between|to] {place} and {town2} led [local merchants|the town "
                    "council] to [seek|promote] a bridge, and [a private act|an act of parliament] was "
                    "[obtained|passed] in {begun}.",
                    "Plans for a bridge were [drawn up|approved] in {begun}, and {engineer} was [appointed|chosen] "
                    "as engineer.",
                ],
                O(
                    0.5,
                    [
                        "[Several|Three|Two] earlier designs had been [rejected|turned down] as too costly."
                    ],
                ),
            ],
        ),
        Section(
            "[Construction|Design and construction]",
            [
                [
                    "Work began in {begun} under the contractor {contractor}.",
                    "{contractor} began work on the foundations in {begun}.",
                ],
                [
                    "The bridge has {spans} spans [and stands|and rises] {height} above the [river|water].",
                    "[Its|The] deck [is carried|rests] on {spans} spans, the largest of which is {main}.",
                ],
                [
                    "[Construction|The work] cost about £{cost}, [more than|well over] the original estimate.",
                    "The total cost was £{cost}, [which|and this] was [raised|paid] [through tolls|by a loan|by the "
                    "county].",
                ],
                O(
                    0.6,
                    [
                        "It was opened on {odate} by {opener}.",
                        "{opener} [formally opened|opened] the bridge on {odate}, [in front of a large crowd|"
                        "with a procession across the deck].",
                    ],
                ),
            ],
        ),
        Section(
            "[Later history|Later years|Use]",
            [
                [
                    "Tolls were [abolished|removed] in {toll}, [and|after which] traffic [increased|grew] "
                    "[quickly|steadily].",
                    "The bridge was freed from tolls in {toll}.",
                ],
                [
                    "[Major|Extensive] repairs were carried out in {repair}, when [the deck was strengthened|"
                    "corroded parts were replaced|the piers were repaired].",
                    "By {repair} the structure needed [strengthening|repair], and [weight limits|speed limits] "
                    "were [imposed|introduced] until the work was finished.",
                ],
                O(
                    0.7,
                    [
                        "It now carries about {vehicles} vehicles a day.",
                        "The bridge [was listed|became a listed structure] in {listed} [and is|as] [an important|"
                        "a notable] example of {kind} construction.",
                    ],
                ),
            ],
            p=0.9,
        ),
    ],
)

KINDS = [TOWN, RIVER, BRIDGE]
