"""Article kinds about works: albums and video games."""

from . import Kind, O, Section
from .names import GAME_NOUNS, GAME_WORDS, SUBTITLES, WORDS_A, WORDS_B
from .text import date, number, words

GENRES = [
    "indie rock",
    "folk",
    "synth-pop",
    "post-punk",
    "country",
    "soul",
    "hard rock",
    "dream pop",
    "electronic",
    "blues rock",
    "jazz fusion",
    "power pop",
]
BAND_WORDS = [
    "Harbour",
    "Lantern",
    "Orchard",
    "Static",
    "Meridian",
    "Juniper",
    "Tin",
    "Velvet",
    "Kestrel",
    "Coral",
    "Signal",
    "Cinder",
    "Marble",
    "Hollow",
    "Paper",
]
BAND_NOUNS = [
    "Club",
    "Parade",
    "Society",
    "Brothers",
    "Engines",
    "Sisters",
    "Radio",
    "Choir",
    "Hearts",
    "Machine",
    "Collective",
    "Circus",
]
CRITICS = [
    "Rolling Stone",
    "NME",
    "Pitchfork",
    "AllMusic",
    "The Guardian",
    "Q",
    "Mojo",
    "Uncut",
    "Melody Maker",
    "Spin",
]


def album_facts(rng, names):
    title = names.unique(lambda: f"{rng.choice(WORDS_A)} {rng.choice(WORDS_B)}")
    year = rng.randint(1966, 2019)
    anniv = 20 if year < 2000 else 10
    solo = rng.random() < 0.35
    if solo:
        artist = names.full_name()
    else:
        artist = names.unique(
            lambda: (
                f"The {rng.choice(BAND_WORDS)} {rng.choice(BAND_NOUNS)}"
                if rng.random() < 0.6
                else f"{rng.choice(BAND_WORDS)} {rng.choice(BAND_NOUNS)}"
            )
        )
    n = rng.choice(["second", "third", "fourth", "debut", "fifth"])
    single1 = names.unique(lambda: f"{rng.choice(WORDS_A)} {rng.choice(WORDS_B)}")
    single2 = rng.choice(
        [
            "Come Home",
            "The Long Way",
            "Letters",
            "Northbound",
            "Lighthouse",
            "Satellite",
            "Undertow",
            "Parade",
            "Slow Burn",
            "Holding On",
            "Small Hours",
            "Quarry",
        ]
    )
    critic1, critic2 = rng.sample(CRITICS, 2)
    return {
        "title": f"{title} ( album )" if rng.random() < 0.4 else title,
        "album": title,
        "artist": artist,
        "genre": rng.choice(GENRES),
        "n": n,
        "year": year,
        "rdate": date(rng, year),
        "label": rng.choice(
            [
                "Parlophone",
                "Island",
                "Rough Trade",
                "Sub Pop",
                "Domino",
                "Chrysalis",
                "Virgin",
                "Mercury",
                "4AD",
                "Atlantic",
            ]
        ),
        "studio": names.surname() + rng.choice([" Studios", " Sound", " Studio"]),
        "studio_town": names.any_place(),
        "producer": names.full_name(),
        "engineer": names.full_name(),
        "weeks": words(rng.randint(2, 12)),
        "rec_year": year - rng.randint(0, 1),
        "tracks": rng.randint(9, 14),
        "minutes": rng.randint(34, 61),
        "single1": single1,
        "single2": single2,
        "peak": rng.randint(1, 40),
        "us_peak": rng.randint(12, 180),
        "sales": number(rng.randint(6, 90) * 10000),
        "critic1": critic1,
        "critic2": critic2,
        "score": rng.randint(60, 92),
        "stars": rng.choice(["three", "four", "four and a half"]),
        "cert": rng.choice(["silver", "gold", "platinum"]),
        "member": names.full_name(),
        "tour_months": words(rng.randint(4, 18)),
        "reissue": year + anniv,
        "anniv": words(anniv),
        "by": "by the singer-songwriter " + artist if solo else "by " + artist,
        "they": artist.split()[-1] if solo else "the band",
    }


ALBUM = Kind(
    "album",
    album_facts,
    [
        Section(
            None,
            [
                [
                    "{album} is the {n} studio album {by}, released on {rdate} [by|on] {label}.",
                    "{album} is the {n} [studio|] album {by}. It was released [on|through] {label} on {rdate}.",
                ],
                [
                    "Recorded at {studio} in {studio_town} with the producer {producer}, "
                    "[the album|it] [moved|marked a move] towards [a|a more] {genre} sound.",
                    "The album was produced by {producer} and [is|was] [noted|praised] for its [spare|warm|dense|"
                    "bright] {genre} [arrangements|sound].",
                ],
                [
                    "It reached number {peak} on the [UK Albums Chart|national albums chart] and was [certified|"
                    "later certified] {cert}.",
                    "[Commercially|A commercial success], it [peaked|reached a peak] at number {peak} [in the UK|on "
                    "the albums chart] and [sold|went on to sell] [more than|over] {sales} copies.",
                ],
            ],
        ),
        Section(
            "[Background|Background and recording|Recording]",
            [
                [
                    "[After|Following] [the tour for their previous record|a long tour|a break of two years], "
                    "{they} [began writing|started work on] new songs in {rec_year}.",
                    "Work on the album began in {rec_year}, [when|after] {they} [rented|moved into] [a house|a "
                    "farmhouse|a rehearsal room] near {studio_town} to write.",
                ],
                [
                    "Recording took place over {weeks} weeks at {studio}, with {engineer} as [engineer|recording "
                    "engineer].",
                    "The sessions at {studio} lasted {weeks} weeks; {producer} [encouraged|asked] {they} to "
                    "[record live|play together in one room|keep the first takes].",
                ],
                O(
                    0.6,
                    [
                        "[Several|Many|Some] of the songs were [written|finished] in the studio, and {member} "
                        'later said that the [record|album] had been " [made very quickly|a happy accident|the '
                        'hardest thing we ever did] ".',
                        "[Strings|A brass section|Backing vocals] [were|was] added [later|in a second set of "
                        "sessions] [at|in] [another studio|London|the producer 's home studio].",
                    ],
                ),
            ],
        ),
        Section(
            "[Composition|Music and lyrics|Music]",
            [
                [
                    "The album [contains|has] {tracks} tracks and [lasts|runs for] {minutes} minutes.",
                    "[Its|The] {tracks} songs [run to|last] {minutes} minutes in total.",
                ],
                [
                    "[Musically|In its music], it [draws on|combines] {genre} [and|with] [older|earlier] [folk|"
                    "soul|pop|rock] [records|songs], [with|using] [prominent|layered] [guitars|keyboards|"
                    "piano].",
                    "The lyrics [deal|are concerned] [mainly|largely] with [leaving home|loss|memory|the sea|city "
                    "life], [a theme|themes] [that runs|that run] through [the whole record|much of the album].",
                ],
                O(
                    0.6,
                    [
                        'The [opening|closing|title] track, " {single1} ", [begins|opens] with [a|a slow|a '
                        "quiet] [piano figure|drum pattern|guitar part] and [builds|grows] to a [loud|full] "
                        "[finish|climax]."
                    ],
                ),
            ],
            p=0.85,
        ),
        Section(
            "[Release|Release and promotion]",
            [
                [
                    '" {single1} " was released as the [lead|first] single [in advance of the album|before the '
                    "album], and reached number {peak} [on the singles chart|in the charts].",
                    'The [first|lead] single, " {single1} ", [appeared|was released] [a month|several weeks] '
                    'before the album; " {single2} " followed [as the second single|later that year].',
                ],
                O(
                    0.7,
                    [
                        "{they} [toured|promoted the album with a tour] for {tour_months} months [in Europe and "
                        "North America|across the country|after its release]."
                    ],
                ),
                O(
                    0.4,
                    [
                        "A [deluxe|remastered|anniversary] edition was [issued|released] in {reissue} [to "
                        "mark|for] the album 's {anniv}th anniversary."
                    ],
                ),
            ],
        ),
        Section(
            "[Reception|Critical reception]",
            [
                [
                    "[The album|{album}] received [generally positive|mostly favourable|mixed] reviews [from "
                    "critics|].",
                    "[Critics|Reviewers] [were|were largely] [positive|favourable] about the album.",
                ],
                [
                    "{critic1} [gave it|awarded it] {stars} stars, [praising|and praised] [its|the] "
                    "[songwriting|production|singing].",
                    '[Writing in|In] {critic1}, [one reviewer|the reviewer] called it " [a confident|an '
                    'assured|a strange and lovely] record ".',
                ],
                O(
                    0.7,
                    [
                        "{critic2} was [less|more] [enthusiastic|impressed], [finding|and found] [the second "
                        "half|some of the songs] [weaker|too long|too similar].",
                        "[On|At] Metacritic [the album|it] has a score of {score} [out of 100|] [, indicating|, "
                        "which indicates] [generally favourable reviews|universal acclaim].",
                    ],
                ),
            ],
        ),
    ],
)


PLATFORMS = [
    "PlayStation 2",
    "PlayStation 3",
    "PlayStation 4",
    "Xbox 360",
    "Xbox One",
    "Nintendo DS",
    "Wii",
    "Nintendo Switch",
    "Microsoft Windows",
    "Game Boy Advance",
    "GameCube",
]


def _on(platform):
    return platform if platform == "Microsoft Windows" else "the " + platform


GAME_GENRES = [
    "role-playing",
    "platform",
    "racing",
    "puzzle",
    "action-adventure",
    "strategy",
    "stealth",
    "survival horror",
    "fighting",
    "simulation",
]


def game_facts(rng, names):
    base = names.unique(lambda: f"{rng.choice(GAME_WORDS)} {rng.choice(GAME_NOUNS)}")
    title = base + (" : " + rng.choice(SUBTITLES) if rng.random() < 0.3 else "")
    year = rng.randint(1994, 2019)
    platform1, platform2 = rng.sample(PLATFORMS, 2)
    studio = names.surname() + rng.choice(
        [" Games", " Interactive", " Studios", " Software", " Entertainment"]
    )
    genre = rng.choice(GAME_GENRES)
    return {
        "title": title,
        "game": title,
        "short": base,
        "year": year,
        "genre": genre,
        "a_genre": ("an " if genre[0] in "aeiou" else "a ") + genre,
        "developer": studio,
        "publisher": rng.choice(
            ["Sega", "Namco", "Eidos", "Konami", "Capcom", "Ubisoft", "THQ", "Codemasters", "Atlus"]
        ),
        "platform1": _on(platform1),
        "platform2": _on(platform2),
        "rdate": date(rng, year),
        "port": year + rng.randint(1, 3),
        "director": names.full_name(),
        "composer": names.full_name(),
        "writer": names.full_name(),
        "hero": names.person()[0],
        "land": names.foreign_place(),
        "villain": names.full_name(False),
        "team": words(rng.randint(12, 20)) if rng.random() < 0.5 else number(rng.randint(25, 140)),
        "dev_years": words(rng.randint(2, 4)),
        "score": rng.randint(58, 91),
        "sales": number(rng.randint(12, 240) * 10000),
        "week_sales": number(rng.randint(20, 300) * 1000),
        "levels": words(rng.randint(8, 20)),
        "hours": rng.randint(12, 60),
        "sequel_year": year + rng.randint(2, 4),
        "engine": rng.choice(["its own engine", "a licensed engine", "Unreal Engine"]),
        "mag": rng.choice(["Edge", "GameSpot", "IGN", "Eurogamer", "GamesRadar"]),
        "mag2": rng.choice(["Game Informer", "Official Nintendo Magazine", "PC Gamer", "1UP.com"]),
        "famitsu": rng.randint(26, 37),
    }


GAME = Kind(
    "video game",
    game_facts,
    [
        Section(
            None,
            [
                [
                    "{game} is {a_genre} video game developed by {developer} and published by {publisher} for the "
                    "{platform1}.",
                    "{game} is {a_genre} game [for {platform1}|released for {platform1} in {year}], "
                    "developed by {developer} and published by {publisher}.",
                ],
                [
                    "It was released in {year}[, and a version for {platform2} followed in {port}|]. The "
                    "player controls {hero}, [a young|an exiled|a former] [soldier|pilot|thief|knight] [who must "
                    "stop|who sets out to stop] {villain} from [conquering|destroying|flooding] the land of "
                    "{land}.",
                    "Set in the [fictional|imaginary] [kingdom|continent|world] of {land}, it follows {hero} in "
                    "[a struggle|a war|a quest] against {villain}.",
                ],
                O(
                    0.7,
                    [
                        "The game received [generally positive|mixed|favourable] reviews and sold [more than|"
                        "over] {sales} copies [worldwide|].",
                        "[Critics praised|Reviewers praised] its [art direction|soundtrack|level design], "
                        "[though|but] [some|several] [found|criticised] its [difficulty|camera|story] "
                        "[uneven|frustrating].",
                    ],
                ),
            ],
        ),
        Section(
            "Gameplay",
            [
                [
                    "{game} is played from a [third-person|top-down|side-on] [perspective|view].",
                    "[The game|{short}] is divided into {levels} [levels|stages|chapters], [each of which|which] "
                    "[ends with|ends in] a [boss battle|fight against a powerful enemy].",
                ],
                [
                    "The player [moves|guides] {hero} through [open areas|a series of levels|a large map], "
                    "[collecting|gathering] [items|crystals|coins] [that can be used|which are used] to "
                    "[upgrade|improve] [weapons|abilities].",
                    "[Combat|Battles] [takes place|take place] in real time, and the player can [switch between|"
                    "call on] [several|three|four] [companions|characters], each with [their own|different] "
                    "[skills|abilities].",
                ],
                O(
                    0.7,
                    [
                        "A [single|full] playthrough [takes|lasts] about {hours} hours.",
                        "[Beyond|Besides] the main story, the game [includes|offers] [a multiplayer mode|optional "
                        "side quests|a time trial mode] [for up to four players|and hidden areas|].",
                    ],
                ),
            ],
        ),
        Section(
            "[Plot|Synopsis|Story]",
            [
                [
                    "The story begins [when|as] {hero} [returns|is called back] to [a village|a city|the capital] "
                    "in {land} and [finds|discovers] that {villain} has [seized|taken] [power|the throne|an "
                    "ancient weapon].",
                    "{land} has been [at peace|divided|at war] for [a century|many years] when {villain} "
                    "[appears|rises to power] [with|and gathers] an army.",
                ],
                [
                    "[With the help of|Joined by] [a band of|a small group of|two] [allies|rebels|companions], "
                    "{hero} [travels|journeys] [across|through] {land} [to find|in search of] [a way|the means] "
                    "to [defeat|stop] {villain}.",
                    "[After a series of|Over several] [battles|adventures], {hero} [learns|discovers] [that|how] "
                    "{villain} [was once|had once been] [a friend|a hero|a member of the royal guard].",
                ],
                [
                    "In the [final|last] [chapter|battle], {hero} [confronts|faces] {villain} and [restores peace "
                    "to {land}|frees the people of {land}]."
                ],
            ],
            p=0.85,
        ),
        Section(
            "Development",
            [
                [
                    "[Development|Work on the game] began at {developer} [about|some] {dev_years} years "
                    "before release, [with a team of|with a staff of] {team} [people|staff].",
                    "{game} was directed by {director}, who [wanted|hoped] to [make|create] [a game|something] "
                    "[that|which] [felt|would feel] [like|both] [old|classic] [and new|arcade games|adventure "
                    "games].",
                ],
                [
                    "The game [runs on|was built on] {engine}.",
                    "The [story|script] was written by {writer}, and the music was composed by {composer}.",
                ],
                O(
                    0.6,
                    [
                        "[Early|First] [versions|plans] [included|featured] [a larger world|more characters|"
                        "online play], but [these were|they were] [cut|dropped] [to meet|because of] "
                        "[the release date|limits of the hardware]."
                    ],
                ),
            ],
        ),
        Section(
            "[Reception|Release and reception]",
            [
                [
                    "{game} [was released|came out] on {rdate} [in Japan|in North America|in Europe|].",
                    "[In its first week|During its first week on sale] it sold {week_sales} copies.",
                ],
                [
                    'Famitsu [gave it|awarded it] a score of {famitsu} out of 40, [and|while] {mag} [called it|described it as] [" a pleasant surprise "|" solid but safe "|" a triumph "].',
                    "The game [holds|has] [an aggregate|a] score of {score} [out of 100|] on Metacritic.",
                ],
                [
                    "{mag2} [praised|liked] the [game 's|] [visuals|music|controls], [but|though] [called|found] "
                    "the [story|second half] [weak|slow|predictable].",
                    "[Reviewers|Critics] [singled out|praised] the [soundtrack by {composer}|art style|boss "
                    "battles].",
                ],
                O(
                    0.6,
                    [
                        "A sequel was released in {sequel_year}.",
                        "[By|Up to] {sequel_year} the game had sold {sales} copies, and a [sequel|follow-up] "
                        "was [announced|released] [that year|soon after].",
                    ],
                ),
            ],
        ),
    ],
)

KINDS = [ALBUM, GAME]
