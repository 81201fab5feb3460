"""Pools of invented names for the WikiText-2 sample generator.

Places and surnames are put together from syllables, so almost every name is invented; given names,
countries and common nouns are ordinary English words. ``Names`` hands out each name once per run, so
no two articles share a subject.
"""
import re

GIVEN_M = ["Thomas", "Arthur", "Edward", "Henry", "Walter", "Samuel", "Frederick", "Albert", "Hugh",
           "Robert", "Daniel", "Oliver", "Peter", "Martin", "Stephen", "Francis", "Lewis", "Gordon",
           "Harold", "Victor", "Leonard", "Ernest", "Alfred", "Douglas", "Raymond", "Nicholas", "Owen",
           "Jonah", "Tobias", "Felix", "Rupert", "Ivan", "Marcus", "Ellis", "Gareth", "Simon", "Graham",
           "Patrick", "Desmond", "Luca", "Anton", "Mateo", "Casimir", "Emil", "Jonas", "Pieter"]
GIVEN_F = ["Margaret", "Eleanor", "Alice", "Clara", "Harriet", "Edith", "Florence", "Agnes", "Lucy",
           "Helen", "Rosalind", "Beatrice", "Irene", "Dorothy", "Mabel", "Judith", "Frances", "Ada",
           "Miriam", "Nora", "Vera", "Ingrid", "Sofia", "Marta", "Lena", "Elsa", "Greta", "Isobel",
           "Catherine", "Joan", "Ruth", "Hilda", "Maud", "Celia", "Anna", "Teresa"]

_SUR_A = ["Hal", "Mor", "Ash", "Brig", "Cal", "Dren", "Fal", "Gor", "Hed", "Kes", "Lun", "Mad", "Nor",
          "Pell", "Rath", "Sel", "Tor", "Var", "Wen", "Yell", "Bram", "Crom", "Dal", "Fen", "Gil", "Har",
          "Kirk", "Lind", "Mer", "Ost", "Pad", "Quill", "Rad", "Stan", "Thorn", "Ward", "Ab", "Bel"]
_SUR_B = ["ley", "ton", "wood", "ridge", "well", "man", "son", "by", "ford", "ett", "ard", "ow", "ick",
          "ing", "er", "combe", "stone", "field", "more", "den", "wright", "hurst"]

_PLACE_A = ["Ash", "Bel", "Cal", "Dun", "Ebr", "Fen", "Gar", "Hal", "Kel", "Lor", "Mar", "Nor", "Orm",
            "Pen", "Quen", "Ros", "Sal", "Tam", "Ul", "Vel", "Wen", "Yar", "Brae", "Carn", "Dal", "Elm",
            "Glen", "Holl", "Kin", "Lang", "Mill", "Oak", "Rad", "Stan", "Thorn", "Wick", "Bran", "Cor",
            "Hart", "Lym", "Pres", "Whit", "Ald", "Brom", "Cray", "Drum", "Fal", "Grim"]
_PLACE_B = ["ford", "ton", "by", "wick", "mere", "stead", "ham", "bury", "den", "ley", "field", "more",
            "well", "thorpe", "cote", "haven", "bridge", "stow", "burn", "moor", "ridge", "dale",
            "holm", "worth", "gate", "minster", "mouth", "hope"]
_FOREIGN_A = ["Vall", "Mont", "San", "Ter", "Bor", "Kas", "Lind", "Ostr", "Riv", "Sev", "Kor", "Tal",
              "Zar", "Mir", "Dov", "Vel", "Pal", "Cas", "Tor", "Bel", "Lub", "Var"]
_FOREIGN_B = ["ona", "era", "ino", "ava", "ita", "ek", "ov", "ia", "ar", "en", "ica", "ades", "egna",
              "ovo", "ano", "ara", "eth", "und"]

COUNTRIES = ["England", "Scotland", "Wales", "Ireland", "France", "Norway", "Denmark", "the Netherlands",
             "Canada", "New Zealand", "Australia", "Portugal", "Sweden", "Belgium"]
FOREIGN_COUNTRIES = ["Italy", "Spain", "Poland", "Croatia", "Romania", "Bulgaria", "Slovenia",
                     "Portugal", "Greece", "Hungary"]

COLOURS = ["grey", "black", "white", "brown", "olive", "rufous", "yellow", "chestnut", "slate",
           "pale", "dusky", "buff", "crimson", "blue", "green", "tawny", "ashy", "scarlet"]
PARTS = ["crowned", "throated", "breasted", "winged", "tailed", "backed", "bellied", "capped",
         "headed", "eyed", "billed", "fronted", "rumped", "naped"]
BIRDS = ["warbler", "flycatcher", "thrush", "finch", "sparrow", "tanager", "babbler", "wren", "shrike",
         "pigeon", "dove", "kingfisher", "sunbird", "bulbul", "honeyeater", "tit", "woodpecker",
         "parrot", "lark", "pipit", "heron", "rail", "owl", "swift", "robin", "starling", "cuckoo"]
GENUS_A = ["Phyll", "Ptero", "Cyan", "Melan", "Chloro", "Xantho", "Eury", "Lepto", "Micro", "Orni",
           "Poli", "Rhyn", "Stel", "Thamn", "Zoster", "Acro", "Brachy", "Calli", "Dendro", "Hylo"]
GENUS_B = ["ops", "ornis", "ura", "cichla", "spiza", "thraupis", "ptila", "cercus", "philus",
           "rhynchus", "pus", "myias", "lestes", "oscopus", "icola"]
EPITHETS = ["minor", "major", "obscurus", "rufescens", "cinereus", "montanus", "sylvaticus",
            "leucogaster", "melanotis", "flavipes", "nigriceps", "griseus", "insularis", "brunneus",
            "ruficollis", "palustris", "orientalis", "superbus", "pallidus", "tenuirostris"]

SHIP_NAMES = ["Resolute", "Vigilant", "Thornback", "Kestrel", "Harrier", "Sentinel", "Audacious",
              "Meridian", "Steadfast", "Falconer", "Tempest", "Orion", "Corsair", "Valorous", "Gannet",
              "Intrepid", "Pathfinder", "Sovereign", "Tenacious", "Warden", "Albatross", "Dauntless",
              "Lodestar", "Marauder", "Petrel", "Rampart", "Seahorse", "Trident", "Unicorn", "Vanguard",
              "Wolverine", "Bulwark", "Chieftain", "Defiant", "Endeavour", "Fearless", "Gallant",
              "Hotspur", "Indomitable", "Javelin", "Minerva", "Nereid", "Osprey", "Panther", "Redoubt",
              "Skirmisher", "Talisman", "Undaunted", "Viper", "Zealous"]

WORDS_A = ["Paper", "Silver", "Quiet", "Hollow", "Northern", "Glass", "Paper", "Electric", "Broken",
           "Velvet", "Distant", "Golden", "Midnight", "Winter", "Borrowed", "Painted", "Lonely",
           "Burning", "Open", "Hidden", "Salt", "Iron", "Summer", "Wild", "Slow", "Bright", "Crooked",
           "Empty", "Last", "Secret", "Little", "Copper", "Lantern", "Rising", "Fading"]
WORDS_B = ["Lanterns", "Rivers", "Harbour", "Hours", "Machines", "Letters", "Gardens", "Signals",
           "Horizon", "Kingdom", "Weather", "Rooms", "Echoes", "Streets", "Tides", "Engines", "Fields",
           "Years", "Mirrors", "Roads", "Voices", "Islands", "Lights", "Ghosts", "Orchards", "Stations",
           "Maps", "Bells", "Wolves", "Stars", "Shores", "Seasons"]
GAME_WORDS = ["Aether", "Chrono", "Star", "Shadow", "Iron", "Crystal", "Storm", "Rune", "Sky", "Void",
              "Ember", "Frost", "Astral", "Mecha", "Dragon", "Neon", "Sun", "Moon", "Titan", "Phantom"]
GAME_NOUNS = ["Legends", "Tactics", "Odyssey", "Frontier", "Quest", "Saga", "Knights", "Drift",
              "Rebellion", "Horizon", "Chronicles", "Arena", "Protocol", "Racers", "Dominion", "Vanguard"]
SUBTITLES = ["The Lost Crown", "Rise of the Wardens", "Beyond the Gate", "Second Dawn", "The Silent War",
             "Echoes of Home", "The Broken Sky", "Heart of the Storm", "The Last Harbour"]

STORM_NAMES = ["Agatha", "Bertram", "Celeste", "Dorian", "Edna", "Fabian", "Gilda", "Hector", "Imelda",
               "Jasper", "Katrin", "Lionel", "Marisol", "Norbert", "Odette", "Percival", "Rosalie",
               "Sebastian", "Tamsin", "Ulric", "Valda", "Winston", "Yolanda", "Zeke", "Anselm", "Briony",
               "Cormac", "Delphine", "Evander", "Fenella", "Godfrey", "Hester", "Ignatius", "Juniper",
               "Kendrick", "Leonie", "Magnus", "Nerissa", "Orson", "Philippa"]


def _tidy(name):
    """Millley -> Milley: no letter three times running."""
    return re.sub(r"(.)\1\1", r"\1\1", name)


class Names:
    """Seeded source of names, each handed out at most once."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def _unique(self, make):
        for _ in range(1000):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("name pool exhausted")

    def place(self):
        """A place name no other article has as its subject."""
        return self._unique(self.any_place)

    def any_place(self):
        """A place name that may recur (a neighbouring town, a county)."""
        return _tidy(self.rng.choice(_PLACE_A) + self.rng.choice(_PLACE_B))

    def foreign_place(self):
        return self._unique(lambda: self.rng.choice(_FOREIGN_A) + self.rng.choice(_FOREIGN_B))

    def surname(self):
        return _tidy(self.rng.choice(_SUR_A) + self.rng.choice(_SUR_B))

    def person(self, female=None, unique=False):
        """(given name, surname, female); with ``unique`` the full name is never handed out again."""
        if female is None:
            female = self.rng.random() < 0.4
        pool = GIVEN_F if female else GIVEN_M
        make = lambda: (self.rng.choice(pool), self.surname())
        if unique:
            full = self._unique(lambda: " ".join(make()))
            given, surname = full.split(" ")
        else:
            given, surname = make()
        return given, surname, female

    def full_name(self, female=None):
        given, surname, _ = self.person(female)
        return f"{given} {surname}"

    def unique(self, make):
        return self._unique(make)
