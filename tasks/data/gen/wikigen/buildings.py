"""Article kinds: castles and films."""

from . import Kind, O, P, Section
from .names import WORDS_A, WORDS_B
from .text import date, number, ordinal, words

EARLS = ["Earl of", "Duke of", "Baron", "Lord"]
STONES = ["red sandstone", "grey limestone", "local granite", "rubble stone", "ashlar", "flint"]


def castle_facts(rng, names):
    place = names.place()
    founded = rng.randint(1070, 1290)
    house = rng.randint(1560, 1760)
    siege = rng.randint(1320, 1480) if rng.random() < 0.5 else rng.randint(1642, 1648)
    return {
        "title": f"{place} Castle",
        "name": f"{place} Castle",
        "place": place,
        "country": rng.choice(["England", "England", "Wales", "Scotland"]),
        "founder": names.full_name(False),
        "founded": founded,
        "century": ordinal(founded // 100 + 1),
        "stone_year": founded + rng.randint(30, 110),
        "stone": rng.choice(STONES),
        "keep_h": f"{rng.randint(14, 32)} metres",
        "towers": words(rng.randint(3, 8)),
        "family": names.surname(),
        "title_holder": f"{rng.choice(EARLS)} {names.any_place()}",
        "siege": siege,
        "siege_weeks": words(rng.randint(2, 14)),
        "civil": siege >= 1642,
        "slight": siege + rng.randint(1, 6),
        "house_year": house,
        "ruin_year": house + rng.randint(20, 120),
        "trust_year": rng.randint(1920, 1990),
        "visitors": number(rng.randint(8, 150) * 1000),
        "river": names.any_place(),
        "hill": rng.choice(
            ["a steep rocky outcrop", "a low mound", "a high ridge", "a natural spur"]
        ),
        "dig_year": rng.randint(1950, 2015),
        "finds": rng.choice(
            [
                "coins and pottery",
                "arrowheads and a bronze buckle",
                "the foundations of a kitchen",
                "a well more than twenty metres deep",
            ]
        ),
        "siege_side": rng.choice(["royalist", "parliamentarian"]) if siege >= 1642 else "rebel",
    }


CASTLE = Kind(
    "castle",
    castle_facts,
    [
        Section(
            None,
            [
                [
                    "{name} is a [ruined|partly ruined|restored|medieval] castle [in|near] the town of {place}, "
                    "{country}.",
                    "{name} is a castle [standing|built] on {hill} [above|beside] the River {river} at {place} in "
                    "{country}.",
                ],
                [
                    "It was [founded|begun] in the {century} century by {founder}, and [rebuilt|was rebuilt] in "
                    "{stone} [in about|around] {stone_year}.",
                    "The first castle on the site was a timber fort [put up|raised] by {founder} in {founded}; "
                    "it was [replaced|rebuilt] in stone [from|around] {stone_year}.",
                ],
                O(
                    0.7,
                    [
                        "[Today|Now] the castle is [in the care of|looked after by] a [heritage|conservation] "
                        "trust and is open to the public.",
                        "It [attracts|receives] about {visitors} visitors a year.",
                    ],
                ),
            ],
        ),
        Section(
            "History",
            [
                [
                    "{founder} [built|raised] the first castle soon after [he|the family] [was granted|received] "
                    "the [manor|lands] of {place} in {founded}.",
                    "The castle was [built|founded] in {founded} to [guard|control] [the crossing of|a ford on] "
                    "the River {river}.",
                ],
                [
                    "In [about|around] {stone_year} the [timber|wooden] [defences|buildings] were replaced by a "
                    "[square|round] keep of {stone}, {keep_h} high, and a curtain wall with {towers} towers.",
                    "The stone castle, [completed|finished] in [about|around] {stone_year}, had a keep {keep_h} "
                    "[high|tall] and a [curtain wall|walled bailey] [with|defended by] {towers} towers.",
                ],
                P,
                [
                    "The castle passed to the {family} family, [who|and they] [held|kept] it for [several "
                    "centuries|nearly three hundred years].",
                    "[By marriage|Through marriage] the castle came to the {family} family, later [made|created] "
                    "{title_holder}.",
                ],
                [
                    "In {siege} it was [besieged|held] for {siege_weeks} weeks by {siege_side} forces [before|"
                    "until] [the garrison surrendered|it was relieved|supplies ran out].",
                    "[The castle 's|Its] [only|most famous] siege came in {siege}, when {siege_side} troops "
                    "[surrounded|blockaded] it for {siege_weeks} weeks.",
                ],
                O(
                    0.6,
                    [
                        "After the siege the walls were [deliberately damaged|slighted] in {slight} so that "
                        "the castle could not be used again.",
                        "A [comfortable|new] house was built [inside the walls|in the bailey] in {house_year}, "
                        "but it was [abandoned|left empty] by {ruin_year}.",
                    ],
                ),
            ],
        ),
        Section(
            "[Architecture|Description|Layout]",
            [
                [
                    "The [keep|great tower] [stands|rises to] {keep_h} and has walls [up to|"
                    "nearly] four metres thick.",
                    "[The castle is|It is] built of {stone}, [with|and has] a gatehouse [facing|on the side of] "
                    "the town.",
                ],
                [
                    "[Parts|Sections] of the curtain wall [survive|still stand] [to their full height|to "
                    "about half their height], [together with|as do] {towers} of the towers.",
                    "The [inner|outer] bailey [contains|holds] the [remains|footings] of a [great hall|chapel|"
                    "kitchen] and a well.",
                ],
            ],
            p=0.85,
        ),
        Section(
            "[Later history|Modern times|Conservation]",
            [
                [
                    "By {ruin_year} the castle was [a ruin|in ruins], and [stone|much of its stone] was [taken|"
                    "carried away] for [building|new houses] in {place}.",
                    "[The castle|It] [was placed|passed] in the care of a [trust|conservation body] in "
                    "{trust_year}.",
                ],
                O(
                    0.7,
                    [
                        "[Excavations|An excavation] in {dig_year} [found|uncovered] {finds}.",
                        "[Archaeologists|A team of archaeologists] [working|digging] there in {dig_year} "
                        "[recovered|found] {finds}.",
                    ],
                ),
            ],
        ),
    ],
)

FILM_GENRES = [
    "drama",
    "comedy",
    "thriller",
    "war film",
    "romantic comedy",
    "western",
    "crime film",
    "musical",
    "science fiction film",
    "mystery film",
]


def film_facts(rng, names):
    title = names.unique(
        lambda: rng.choice(["The ", "", "The "]) + f"{rng.choice(WORDS_A)} {rng.choice(WORDS_B)}"
    )
    year = rng.randint(1934, 2015)
    genre = rng.choice(FILM_GENRES)
    budget = rng.randint(2, 60)
    return {
        "title": f"{title} ( film )" if rng.random() < 0.5 else f"{title} ( {year} film )",
        "film": title,
        "year": year,
        "genre": genre,
        "a_genre": ("an " if genre[0] in "aeiou" else "a ") + genre,
        "director": names.full_name(),
        "writer": names.full_name(),
        "star1": names.full_name(),
        "star2": names.full_name(),
        "composer": names.full_name(),
        "studio": names.surname() + rng.choice([" Pictures", " Films", " Studios"]),
        "novel_author": names.full_name(),
        "location": names.any_place(),
        "shoot_weeks": words(rng.randint(5, 16)),
        "budget": f"{budget} million",
        "gross": f"{budget * rng.randint(1, 6) + rng.randint(0, 9)} million",
        "minutes": rng.randint(88, 151),
        "rdate": date(rng, year),
        "hero": names.person()[0],
        "hero_job": rng.choice(
            [
                "schoolteacher",
                "detective",
                "fisherman",
                "nurse",
                "pilot",
                "journalist",
                "lighthouse keeper",
                "farmer",
                "singer",
            ]
        ),
        "rival": names.full_name(),
        "town": names.any_place(),
        "awards": words(rng.randint(2, 6)),
        "critic": rng.choice(
            ["The Times", "Variety", "The New York Times", "Empire", "Sight and Sound"]
        ),
        "score": rng.randint(55, 98),
    }


FILM = Kind(
    "film",
    film_facts,
    [
        Section(
            None,
            [
                [
                    "{film} is a {year} {genre} directed by {director} and [starring|featuring] {star1} and "
                    "{star2}.",
                    "{film} is {a_genre} [released in|from] {year}, directed by {director} [from a screenplay by|"
                    "and written by] {writer}.",
                ],
                [
                    "[Based on|Adapted from] a novel by {novel_author}, it [tells the story of|follows] {hero}, a "
                    "{hero_job} in the [small|quiet|coastal] town of {town}.",
                    "The film follows {hero}, a {hero_job} who [becomes caught up in|is drawn into] a "
                    "[feud|dispute|mystery] [with|involving] {rival}.",
                ],
                O(
                    0.7,
                    [
                        "It [earned|took] ${gross} [at the box office|worldwide] on a budget of ${budget}.",
                        "The film [was nominated for|won] {awards} [awards|major awards], [including|among them] "
                        "[best director|best actress|best original score].",
                    ],
                ),
            ],
        ),
        Section(
            "Plot",
            [
                [
                    "{hero} [lives|has lived] [quietly|alone] in {town} [for many years|since childhood] "
                    "[until|when] {rival} [arrives|returns] [with plans that threaten the town|bringing "
                    "news that changes everything].",
                    "[In|At the start of the film,] {hero} [loses|is dismissed from] [a job|a post] as a "
                    "{hero_job} and [returns|moves] to {town}.",
                ],
                [
                    "[As|While] [the story|events] [unfolds|unfold], {hero} [discovers|learns] [a secret|the "
                    "truth] about [the past|an old accident|a missing letter].",
                    "{hero} [forms|makes] an [unlikely|uneasy] [friendship|alliance] with [a stranger|a "
                    "neighbour|an old rival], and [together|slowly] they [uncover|solve] the [mystery|problem].",
                ],
                [
                    "The film [ends|closes] with {hero} [leaving|staying in] {town} [at dawn|in the rain|as the "
                    "summer ends]."
                ],
            ],
            p=0.85,
        ),
        Section(
            "Production",
            [
                [
                    "[Filming|Principal photography] took place [over|during] {shoot_weeks} weeks in {location}"
                    "[ and in a studio|, standing in for {town}|].",
                    "{studio} [bought|acquired] the rights to the novel [and|, and] {director} was [hired|"
                    "signed] to direct.",
                ],
                [
                    "The [music|score] was [composed|written] by {composer}.",
                    "{director} [cast|chose] {star1} [after|following] [a long search|several auditions], "
                    "[while|and] {star2} [joined|was added to] the cast [later|shortly before filming].",
                ],
                O(
                    0.5,
                    [
                        "[Several|Some] scenes were [reshot|filmed again] after [test screenings|early "
                        "previews], [which delayed the release|delaying the release]."
                    ],
                ),
            ],
        ),
        Section(
            "[Release|Release and reception|Reception]",
            [
                [
                    "{film} was released on {rdate} [by {studio}|] and runs for {minutes} minutes.",
                    "The film [opened|premiered] on {rdate}[ in London| in New York|].",
                ],
                [
                    "[Reviews were largely positive|Reviews were mixed|Critics were mostly favourable]; {critic} [praised|"
                    "singled out] the performance of {star1}.",
                    '[Writing in|In] {critic}, [one critic|the reviewer] called it " [a quiet triumph|an '
                    'uneven but moving film|a handsome film with little to say] ".',
                ],
                O(
                    0.6,
                    [
                        "[On|At] Rotten Tomatoes [the film|it] holds [an approval rating|a rating] of "
                        "{score} % [from critics|].",
                        "[It|The film] [was a commercial success|did well at the box office], earning "
                        "${gross}.",
                    ],
                ),
            ],
        ),
    ],
)

KINDS = [CASTLE, FILM]
