"""Hand-written commonsense evaluation items for qbench (see make_commonsense_eval.py).

Multiple-choice items list the correct choice first, then the wrong ones; the writer script moves the
correct choice to a balanced, seeded position.
"""

# (question, answer, passage)
BOOLQ = [
    (
        "is a tomato a fruit in botany",
        True,
        "In botany, a fruit is the seed-bearing part that grows from the flower of a plant. The tomato "
        "holds its seeds inside a soft, fleshy body, so botanists class it as a fruit, even though cooks "
        "usually treat it as a vegetable because it is used in savoury dishes.",
    ),
    (
        "do penguins live in the arctic",
        False,
        "Penguins are flightless seabirds that live almost entirely in the Southern Hemisphere, on the "
        "coasts of Antarctica, South America, southern Africa, Australia and New Zealand. No penguin "
        "species lives in the Arctic, where the bird's niche is filled by auks and puffins.",
    ),
    (
        "does ice float on liquid water",
        True,
        "Water expands by about nine percent when it freezes, so ice is less dense than the liquid it "
        "formed from. For this reason ice cubes bob at the top of a drink, and ponds freeze from the "
        "surface downward while fish survive in the water below.",
    ),
    (
        "is the sun a planet",
        False,
        "The Sun is the star at the centre of the Solar System. It is a huge ball of hot gas that "
        "produces light and heat by nuclear fusion in its core. Eight planets, including Earth, travel "
        "around it in orbits.",
    ),
    (
        "can a person breathe underwater without any equipment",
        False,
        "Human lungs take oxygen from air, not from water. Without a snorkel, an air tank or some other "
        "supply of air, a swimmer has to hold their breath below the surface and come up again to "
        "breathe, usually within a minute or two.",
    ),
    (
        "is a spider a kind of insect",
        False,
        "Spiders belong to the arachnids, a group that also includes scorpions, mites and ticks. "
        "Arachnids have eight legs and two main body parts, while insects such as ants and beetles have "
        "six legs and three body parts.",
    ),
    (
        "is the pacific the largest ocean on earth",
        True,
        "The Pacific Ocean stretches from the Arctic in the north to the Southern Ocean in the south and "
        "lies between Asia and Australia on one side and the Americas on the other. It covers about a "
        "third of the planet's surface, more than any other ocean.",
    ),
    (
        "does the moon make its own light",
        False,
        "The Moon has no light of its own. What we see at night is sunlight reflected from its grey, "
        "dusty surface. As the Moon travels around Earth, different amounts of its sunlit half face us, "
        "which gives the phases from new moon to full moon.",
    ),
    (
        "do some bats find their food using echolocation",
        True,
        "Many bats hunt at night by echolocation. They make high-pitched calls and listen for the echoes "
        "that bounce back from objects around them, which lets them find flying insects and avoid "
        "obstacles even in complete darkness.",
    ),
    (
        "is a whale a type of fish",
        False,
        "Whales are mammals that live in the sea. Like other mammals they breathe air with lungs, are "
        "warm-blooded and feed their young on milk. They must come to the surface to breathe through "
        "the blowhole on top of their head.",
    ),
    (
        "does sound travel faster than light",
        False,
        "Light travels through air at nearly 300,000 kilometres per second, while sound moves at only "
        "about 343 metres per second. This is why, during a storm, a flash of lightning is seen before "
        "the thunder that it causes is heard.",
    ),
    (
        "is mount everest the highest mountain above sea level",
        True,
        "Mount Everest, on the border between Nepal and China in the Himalayas, rises about 8,849 metres "
        "above sea level. No other mountain on Earth has a summit that reaches higher above the sea.",
    ),
    (
        "do green plants need light to make their food",
        True,
        "Green plants make their own food by photosynthesis. In their leaves, they use the energy of "
        "light to turn water and carbon dioxide into sugar, giving off oxygen as a by-product. Without "
        "light, a plant slowly uses up its stored food and weakens.",
    ),
    (
        "is copper a good conductor of electricity",
        True,
        "Copper is a reddish metal that lets electric current pass through it very easily. Because of "
        "this, and because it bends without breaking, it is the most common metal used for the wires "
        "inside houses and electrical machines.",
    ),
    (
        "is honey made by wasps",
        False,
        "Honey is made by honey bees. Worker bees collect sweet nectar from flowers, carry it back to "
        "the hive and store it in wax cells, where it thickens into honey that feeds the colony through "
        "the winter. Wasps do not make honey.",
    ),
    (
        "does a leap year have 366 days",
        True,
        "A common year in the calendar has 365 days. Every fourth year, with a few exceptions, an extra "
        "day is added at the end of February, making a leap year of 366 days and keeping the calendar "
        "in step with Earth's orbit.",
    ),
    (
        "can an ostrich fly",
        False,
        "The ostrich is the largest living bird. Its wings are far too small to lift its heavy body, so "
        "it cannot fly. Instead it runs on its long, strong legs, reaching speeds of about 70 kilometres "
        "per hour.",
    ),
    (
        "is a chessboard made up of 64 squares",
        True,
        "Chess is played on a square board divided into eight rows and eight columns. The squares "
        "alternate between light and dark, and each player starts the game with sixteen pieces on the "
        "two rows nearest to them.",
    ),
    (
        "is every desert hot all year round",
        False,
        "A desert is a place that receives very little rain or snow. Some deserts, such as the Sahara, "
        "are hot, but others are cold: the Gobi has freezing winters, and the largest desert of all is "
        "the ice-covered continent of Antarctica.",
    ),
    (
        "is the heart part of the circulatory system",
        True,
        "The circulatory system carries blood around the body. It is made up of the heart, which pumps "
        "the blood, and the arteries, veins and capillaries through which the blood flows to every "
        "organ and back again.",
    ),
    (
        "does a triangle have four sides",
        False,
        "A triangle is a flat shape with three straight sides and three corners. The three angles inside "
        "any triangle always add up to 180 degrees. A shape with four sides is called a quadrilateral.",
    ),
    (
        "is venus closer to the sun than earth is",
        True,
        "Venus is the second planet from the Sun, and Earth is the third. Venus orbits inside Earth's "
        "orbit, which is why it is always seen fairly near the Sun in the sky, in the evening after "
        "sunset or in the morning before sunrise.",
    ),
    (
        "is the amazon river in africa",
        False,
        "The Amazon is a river in South America. It rises in the Andes mountains of Peru and flows "
        "east across Brazil to the Atlantic Ocean. It carries more water than any other river in the "
        "world.",
    ),
    (
        "do cows have four legs",
        True,
        "Cattle are large grazing animals kept on farms for milk, meat and leather. Like horses and "
        "sheep, a cow walks on four legs, each ending in a split hoof, and it spends much of the day "
        "eating grass and chewing its cud.",
    ),
]

# (goal, correct solution, wrong solution)
PIQA = [
    (
        "To keep bread from going stale quickly,",
        "store it in a closed bag at room temperature.",
        "leave it uncovered on the counter for a few days.",
    ),
    (
        "How do I cool a hot bowl of soup faster?",
        "Stir it and blow gently across the top.",
        "Cover it with a thick wool blanket to hold the heat in.",
    ),
    (
        "Loosen a jar lid that is stuck.",
        "Run the lid under hot water for a minute, then twist it.",
        "Put the jar in the freezer for an hour, then try twisting the lid.",
    ),
    (
        "Dry a pair of wet sneakers.",
        "Stuff them with newspaper and leave them in a warm, airy spot.",
        "Seal them in a plastic bag and leave them in a dark cupboard.",
    ),
    (
        "To find a tiny earring dropped on a carpet,",
        "stretch a stocking over the vacuum nozzle and vacuum the area slowly.",
        "pour a bucket of water over the carpet and wait for the earring to float up.",
    ),
    (
        "Remove a small splinter from your finger.",
        "Pull it out with clean tweezers in the same direction it went in.",
        "Press hard on it with your thumb until it goes in deeper and disappears.",
    ),
    (
        "Keep a door from slamming shut in the wind.",
        "Push a rubber wedge under the bottom of the door.",
        "Oil the hinges so the door swings more easily.",
    ),
    (
        "Make ice cubes at home.",
        "Fill an ice tray with water and put it in the freezer.",
        "Fill an ice tray with water and put it in the oven.",
    ),
    (
        "How to stop a small cut from bleeding.",
        "Press a clean cloth firmly on the cut for a few minutes.",
        "Blow warm air on the cut with a hair dryer.",
    ),
    (
        "Carry drinking water on a long hike.",
        "Fill a bottle with a tight cap and pack it in your bag.",
        "Fill a paper bag with water and carry it by the top.",
    ),
    (
        "To read a book in a dark room,",
        "switch on a lamp next to your chair.",
        "put on a pair of sunglasses.",
    ),
    (
        "Stop sliced apples from turning brown.",
        "Squeeze a little lemon juice over the slices.",
        "Leave the slices on a sunny windowsill.",
    ),
    (
        "Water a potted plant.",
        "Pour water slowly onto the soil around the base of the plant.",
        "Pour all of the water at once onto a single leaf at the very top.",
    ),
    (
        "How do you clear a blocked sink drain?",
        "Press a plunger over the drain and pump it up and down.",
        "Pour a pan of hot cooking fat down the drain and let it set.",
    ),
    (
        "Fold a T-shirt neatly.",
        "Lay it flat, fold the sleeves in, then fold it in half.",
        "Squeeze it into a ball and press it flat with your hands.",
    ),
    (
        "Light a birthday candle.",
        "Hold a lit match to the wick for a moment.",
        "Hold an ice cube to the wick for a moment.",
    ),
    (
        "Take a hot tray out of the oven safely.",
        "Wear thick, dry oven gloves.",
        "Hold it with wet paper towels.",
    ),
    (
        "Soften a hard stick of butter quickly.",
        "Cut it into small cubes and leave them on a plate.",
        "Wrap it tightly and put it in the freezer.",
    ),
    (
        "Hang a picture on a wall.",
        "Hammer a nail into the wall and hang the picture's wire on it.",
        "Tape a nail flat against the wall and hang the picture's wire on it.",
    ),
    (
        "Wake up at six in the morning.",
        "Set an alarm for six before you go to bed.",
        "Set an alarm for six after you wake up.",
    ),
    (
        "To clean muddy boots,",
        "let the mud dry, then brush it off outside.",
        "wipe them clean on the cushions of the living room sofa.",
    ),
    (
        "Keep your hands warm on a cold walk.",
        "Wear gloves and keep your hands in your pockets.",
        "Wet your hands before going out so they feel fresh.",
    ),
    (
        "Stop a wobbly table from rocking.",
        "Fold a piece of cardboard and slide it under the short leg.",
        "Put a heavy vase on the table, at the corner above the longest leg.",
    ),
    (
        "Make a glass of lemonade sweeter.",
        "Stir in another spoonful of sugar.",
        "Stir in another spoonful of salt.",
    ),
]

# (context, question, correct answer, wrong answer, wrong answer)
SIQA = [
    (
        "Jordan forgot his lunch at home, so Casey shared half of her sandwich with him.",
        "How would Jordan feel as a result?",
        "grateful to Casey",
        "angry at Casey",
        "bored by the sandwich",
    ),
    (
        "Riley studied every evening for two weeks before her final exam.",
        "Why did Riley do this?",
        "to do well on the exam",
        "to forget what she had learned",
        "because she wanted to fail",
    ),
    (
        "Alex knocked over a glass and spilled juice all over the kitchen floor.",
        "What will Alex want to do next?",
        "wipe up the spill",
        "pour more juice on the floor",
        "lie down on the wet floor",
    ),
    (
        "Taylor spent all of Saturday carrying boxes to help a friend move into a new flat.",
        "How would you describe Taylor?",
        "helpful",
        "lazy",
        "rude",
    ),
    (
        "Morgan won first prize in the town's baking contest.",
        "How would Morgan feel afterwards?",
        "proud",
        "ashamed",
        "frightened",
    ),
    (
        "Quinn's phone battery died in the middle of a call with her mother.",
        "What does Quinn need to do before she can call back?",
        "charge the phone",
        "sell the phone",
        "paint the phone",
    ),
    (
        "Cameron stepped on the dog's tail by accident and the dog yelped.",
        "What will Cameron likely do next?",
        "pet the dog to comfort it",
        "step on its tail again to hear the noise",
        "shout at the dog",
    ),
    (
        "Jesse borrowed a book from Sam and gave it back a week later in perfect condition.",
        "How would Sam feel?",
        "pleased that the book was looked after",
        "upset that the book came back",
        "worried that the book was ruined",
    ),
    (
        "Avery held the door open for an old man who was carrying heavy bags.",
        "Why did Avery do this?",
        "to help him get inside",
        "to keep him out of the shop",
        "to make his bags heavier",
    ),
    (
        "Kendall missed the bus and arrived at work an hour late for an important meeting.",
        "How would Kendall's boss likely feel?",
        "annoyed",
        "delighted",
        "sleepy",
    ),
    (
        "Sydney's little brother was crying because he could not find his favourite toy.",
        "What will Sydney do next?",
        "help him look for the toy",
        "hide the rest of his toys",
        "laugh at him and leave",
    ),
    (
        "Robin practised the piano for an hour every day for a whole year.",
        "What will probably happen to Robin?",
        "she will play much better",
        "she will forget how to play",
        "she will lose her hearing",
    ),
    (
        "Lee told a funny story at dinner and everyone at the table laughed.",
        "How would Lee feel?",
        "happy",
        "insulted",
        "lonely",
    ),
    (
        "Skylar wanted to surprise her parents, so she cooked dinner before they came home from work.",
        "What did Skylar need to do before this?",
        "get the ingredients",
        "eat the whole dinner",
        "tell her parents about the surprise",
    ),
    (
        "Carson was very thirsty after running in the hot sun.",
        "What will Carson want to do next?",
        "drink some water",
        "run another ten miles",
        "eat a bag of salty crisps",
    ),
    (
        "Bailey dropped her wallet in the park, and a stranger ran after her to give it back.",
        "How would Bailey feel towards the stranger?",
        "thankful",
        "jealous",
        "bored",
    ),
    (
        "Aubrey forgot her best friend's birthday.",
        "What should Aubrey do now?",
        "apologise and wish her friend a happy birthday",
        "ask her friend for a present",
        "pretend that she has never met her friend before in her life",
    ),
    (
        "Remy tidied his room before his grandparents came to stay.",
        "Why did Remy do this?",
        "so the house would look nice for them",
        "so he could not find his things",
        "because his grandparents like a mess",
    ),
    (
        "Tracy got a bad mark on her test and did not want to talk to anyone.",
        "How would Tracy feel?",
        "disappointed",
        "excited",
        "proud",
    ),
    (
        "Jamie invited the new student to sit with his friends at lunch.",
        "How would the new student feel?",
        "welcome",
        "left out",
        "angry",
    ),
    (
        "Dana planted tomato seeds in her garden in the spring.",
        "What will Dana want to do later?",
        "water the plants and pick the tomatoes",
        "dig up the seeds the next morning",
        "cover the whole garden with concrete so nothing can grow",
    ),
    (
        "Harper promised to feed her neighbour's cat while the neighbour was away on holiday.",
        "What will Harper need to do?",
        "visit the house each day and give the cat food",
        "take the cat on holiday with the neighbour on the plane",
        "lock the cat in the garage for a week",
    ),
    (
        "Logan felt nervous about giving a speech in front of the whole school.",
        "What could Logan do to feel more confident?",
        "practise the speech several times",
        "stay up all night before the speech",
        "refuse to read his notes",
    ),
    (
        "Emerson's friend broke her arm and had to stay at home for weeks.",
        "What would Emerson do as a good friend?",
        "visit her and bring her something to read",
        "stop speaking to her",
        "tease her about the broken arm in front of everyone at school",
    ),
]

# (activity_label, source_id, ctx_a, ctx_b, correct ending, wrong endings x3)
HELLASWAG = [
    (
        "Making a sandwich",
        "activitynet~v_qb0001",
        "A woman lays two slices of bread on a cutting board.",
        "she",
        "spreads butter on each slice and adds cheese and ham.",
        "throws the bread into a swimming pool and dives in after it.",
        "paints the cutting board bright red with a roller.",
        "puts on running shoes and jogs around the table.",
    ),
    (
        "Washing the car",
        "activitynet~v_qb0002",
        "A man sprays soapy water over the side of a car parked in a driveway.",
        "he",
        "scrubs the door with a large sponge and rinses it with the hose.",
        "climbs onto the roof and begins to play a violin.",
        "pours the soap into a cup and drinks it slowly.",
        "folds the car into a small square and carries it inside the house under one arm.",
    ),
    (
        "Brushing teeth",
        "activitynet~v_qb0003",
        "A young boy stands at the bathroom sink holding a toothbrush.",
        "he",
        "squeezes toothpaste onto the brush and brushes his teeth.",
        "puts the toothbrush into the oven and waits for it to rise.",
        "uses the toothbrush to sweep the roof of the house.",
        "lifts the sink off the wall and carries it to the garden.",
    ),
    (
        "Playing guitar",
        "activitynet~v_qb0004",
        "A man sits on a stool with an acoustic guitar on his knee.",
        "he",
        "strums the strings and begins to sing along.",
        "eats the guitar strings one by one.",
        "stands on the guitar and slides across the floor.",
        "fills the guitar with soil and plants flowers in it.",
    ),
    (
        "Mowing the lawn",
        "activitynet~v_qb0005",
        "A woman pushes a lawn mower across a large green yard.",
        "she",
        "turns at the fence and mows another strip of grass.",
        "lifts the mower above her head and throws it over the house.",
        "sits on the grass and starts knitting a lawn mower.",
        "pours the cut grass into a teapot and serves it.",
    ),
    (
        "Ice skating",
        "activitynet~v_qb0006",
        "A girl in a red coat glides out onto a frozen pond.",
        "she",
        "spins slowly on her skates while her friends clap.",
        "digs a hole in the ice and plants an apple tree.",
        "takes off her skates and swims across the ice.",
        "builds a campfire in the middle of the pond and cooks on it.",
    ),
    (
        "Food and Entertaining",
        "wikihow~qb0007",
        "[header] How to bake simple cookies [title] Heat the oven to 180 degrees. [step] While it heats, "
        "beat the butter and sugar together in a large bowl until smooth.",
        "",
        "[title] Add the flour and an egg, then stir to form a dough. [step] Roll the dough into small "
        "balls and set them on a baking tray.",
        "[title] Put the bowl in the washing machine. [step] Choose the longest cycle and wait for it "
        "to finish, then pour the bowl into the oven.",
        "[title] Throw the sugar out of the window. [step] Birds will bring back the cookies later.",
        "[title] Switch off the oven and go to bed. [step] The cookies will appear by morning.",
    ),
    (
        "Home and Garden",
        "wikihow~qb0008",
        "[header] How to paint a wall [title] Cover the floor with an old sheet. [step] This protects "
        "it from drips and splashes.",
        "",
        "[title] Stir the paint and pour some into a tray. [step] Roll the paint onto the wall in long, "
        "even strokes.",
        "[title] Pour the paint onto the sheet. [step] Roll up the sheet and hang it on the wall.",
        "[title] Paint the windows black first. [step] This will help the wall dry in the dark.",
        "[title] Freeze the paint overnight. [step] Break it into pieces and press them onto the wall.",
    ),
    (
        "Swimming",
        "activitynet~v_qb0009",
        "A man in goggles stands at the edge of a swimming pool.",
        "he",
        "dives into the water and swims to the far end.",
        "takes a bucket and empties the pool onto the grass.",
        "lies down by the pool and irons his towel.",
        "climbs the diving board and reads a newspaper to the fish.",
    ),
    (
        "Shoveling snow",
        "activitynet~v_qb0010",
        "Deep snow covers the path in front of a small house. A man in a heavy coat walks out with a "
        "shovel.",
        "he",
        "pushes the shovel into the snow and tosses it to the side of the path.",
        "puts the shovel in the oven to warm it up.",
        "throws the shovel onto the roof of the house next door and goes back to bed.",
        "uses the shovel to paint the front door.",
    ),
    (
        "Walking the dog",
        "activitynet~v_qb0011",
        "A woman clips a lead onto her dog's collar by the front door.",
        "she",
        "opens the door and walks the dog down the street.",
        "takes the lead off again and ties it to the ceiling.",
        "puts the dog in the fridge to keep it fresh.",
        "sits on the doormat and reads the dog a recipe.",
    ),
    (
        "Getting a haircut",
        "activitynet~v_qb0012",
        "A barber wraps a cape around a customer sitting in a leather chair.",
        "the barber",
        "combs the customer's hair and begins trimming it with scissors.",
        "fills the chair with water and sails it out of the shop and down the street.",
        "paints the customer's shoes with shaving foam.",
        "throws the scissors out of the window and starts to dance.",
    ),
    (
        "Home and Garden",
        "wikihow~qb0013",
        "[header] How to plant a young tree [title] Dig a hole twice as wide as the roots. [step] Loosen "
        "the soil at the bottom of the hole with a fork.",
        "",
        "[title] Set the tree in the hole and fill it back in with soil. [step] Water it well so the soil "
        "settles around the roots.",
        "[title] Fill the hole with rocks and sit on them. [step] The tree will grow out of the rocks "
        "within a few hours if you keep very still.",
        "[title] Plant the tree upside down. [step] The roots need as much sunlight as possible.",
        "[title] Cut the tree into small pieces. [step] Bury each piece in a different garden.",
    ),
    (
        "Riding a bike",
        "activitynet~v_qb0014",
        "A boy fastens his helmet and climbs onto his bicycle.",
        "he",
        "pushes off and pedals down the quiet street.",
        "takes the wheels off and rolls them into the river.",
        "lies down under the bicycle and falls asleep.",
        "carries the bicycle up a ladder onto the roof.",
    ),
    (
        "Making tea",
        "activitynet~v_qb0015",
        "A woman fills a kettle with water and switches it on.",
        "when it boils, she",
        "pours the water over a tea bag in a mug.",
        "pours the water onto the floor and mops it up.",
        "puts the kettle in the freezer.",
        "drops the kettle into the sink and walks away.",
    ),
    (
        "Fishing",
        "activitynet~v_qb0016",
        "A man sits in a small boat on a calm lake and casts his line.",
        "after a while, he",
        "feels a tug on the line and reels in a fish.",
        "jumps into the water and climbs a tree.",
        "cuts the boat in half with his fishing rod.",
        "throws all of his clothes into the lake.",
    ),
    (
        "Washing dishes",
        "activitynet~v_qb0017",
        "Dirty plates are stacked beside a sink of soapy water. A girl pulls on rubber gloves.",
        "she",
        "scrubs each plate with a sponge and sets it on the rack to dry.",
        "throws the plates into the garden one at a time.",
        "fills the gloves with soup and hangs them on the wall next to the kitchen clock.",
        "stacks the dirty plates in the oven and turns it off.",
    ),
    (
        "Wrapping presents",
        "activitynet~v_qb0018",
        "A man sets a box down on a sheet of colourful paper.",
        "he",
        "folds the paper around the box and tapes down the edges.",
        "cuts the box into strips and glues them to the paper.",
        "eats the paper and puts the box back in the shop.",
        "drops the box into a bath full of water.",
    ),
    (
        "Running a marathon",
        "activitynet~v_qb0019",
        "Hundreds of runners wait behind a starting line on a city street. A horn sounds.",
        "the runners",
        "set off down the road in a large crowd.",
        "sit down on the road and begin to knit scarves.",
        "climb the nearby trees and fall asleep.",
        "turn around and walk into the sea.",
    ),
    (
        "Home and Garden",
        "wikihow~qb0020",
        "[header] How to clean windows [title] Mix warm water with a little washing-up liquid in a "
        "bucket. [step] Dip a clean cloth into the mixture.",
        "",
        "[title] Wipe the glass from top to bottom. [step] Dry it with a lint-free towel so it does not "
        "streak.",
        "[title] Throw the bucket at the window. [step] The glass will clean itself as it breaks.",
        "[title] Paint the glass with mud. [step] Leave it for a year before looking through it.",
        "[title] Drink the mixture. [step] Then breathe on the window to make it shine.",
    ),
    (
        "Playing basketball",
        "activitynet~v_qb0021",
        "Some teenagers play basketball on an outdoor court. A tall girl catches the ball near the hoop.",
        "she",
        "jumps and shoots the ball through the net.",
        "puts the ball in her bag and goes shopping.",
        "kicks the hoop off the pole and takes it home.",
        "lies down on the court and plants seeds around herself.",
    ),
    (
        "Canoeing",
        "activitynet~v_qb0022",
        "Two people sit in a canoe at the edge of a wide river.",
        "they",
        "pick up their paddles and push away from the bank.",
        "lift the canoe onto their heads and climb a mountain.",
        "fill the canoe with sand and bury it.",
        "light a fire inside the canoe to cook lunch.",
    ),
    (
        "Changing a tire",
        "activitynet~v_qb0023",
        "A car with a flat tyre is parked at the side of the road. A man takes a jack out of the boot.",
        "he",
        "raises the car with the jack and loosens the nuts on the flat wheel.",
        "uses the jack to crack a bag of walnuts and eats them all for his lunch.",
        "lets the air out of the other three tyres.",
        "paints a picture of the tyre and drives away.",
    ),
    (
        "Knitting",
        "activitynet~v_qb0024",
        "An old woman sits in an armchair with two knitting needles and a ball of wool.",
        "she",
        "loops the wool around a needle and knits another row.",
        "throws the needles into the fireplace and sings.",
        "unrolls the wool across the street and goes to bed.",
        "uses the needles to eat a bowl of soup.",
    ),
]

# (sentence, option1, option2, answer): twin pairs, one trigger word apart, with opposite answers
WINOGRANDE = [
    ("Tom gave his umbrella to Ben because _ had to walk home in the rain.", "Tom", "Ben", "2"),
    (
        "Tom gave his umbrella to Ben because _ was driving home and did not need it.",
        "Tom",
        "Ben",
        "1",
    ),
    (
        "The ice cream melted before the chocolate bar because the _ was left out in the sun.",
        "ice cream",
        "chocolate bar",
        "1",
    ),
    (
        "The ice cream melted before the chocolate bar because the _ was kept in the fridge.",
        "ice cream",
        "chocolate bar",
        "2",
    ),
    ("Sarah could lift the box but not the crate, because the _ was heavier.", "box", "crate", "2"),
    ("Sarah could lift the box but not the crate, because the _ was lighter.", "box", "crate", "1"),
    (
        "Anna asked Lucy for help with her maths homework because _ was good at maths.",
        "Anna",
        "Lucy",
        "2",
    ),
    (
        "Anna asked Lucy for help with her maths homework because _ was struggling with maths.",
        "Anna",
        "Lucy",
        "1",
    ),
    (
        "The blanket kept James warm but the sheet did not, because the _ was thick.",
        "blanket",
        "sheet",
        "1",
    ),
    (
        "The blanket kept James warm but the sheet did not, because the _ was thin.",
        "blanket",
        "sheet",
        "2",
    ),
    ("Mike finished the race ahead of Paul because _ had trained every day.", "Mike", "Paul", "1"),
    ("Mike finished the race ahead of Paul because _ had hurt his ankle.", "Mike", "Paul", "2"),
    (
        "The children chose the park over the museum because the _ had swings and slides.",
        "park",
        "museum",
        "1",
    ),
    (
        "The children chose the park over the museum because the _ seemed too quiet and dull.",
        "park",
        "museum",
        "2",
    ),
    ("Emma thanked Olivia because _ had baked her a lovely birthday cake.", "Emma", "Olivia", "2"),
    ("Emma apologised to Olivia because _ had dropped the birthday cake.", "Emma", "Olivia", "1"),
    (
        "I put the milk in the fridge and the bread in the cupboard, because the _ would go sour if "
        "kept warm.",
        "milk",
        "bread",
        "1",
    ),
    (
        "I put the milk in the fridge and the bread in the cupboard, because the _ did not need to be "
        "kept cold.",
        "milk",
        "bread",
        "2",
    ),
    (
        "Jack's shoes were soaked but his boots were dry, because the _ were waterproof.",
        "shoes",
        "boots",
        "2",
    ),
    (
        "Jack's shoes were soaked but his boots were dry, because the _ were made of thin cloth.",
        "shoes",
        "boots",
        "1",
    ),
    (
        "Rachel could not reach the top shelf but Kate could, because _ was taller.",
        "Rachel",
        "Kate",
        "2",
    ),
    (
        "Rachel could not reach the top shelf but Kate could, because _ was shorter.",
        "Rachel",
        "Kate",
        "1",
    ),
    (
        "The library was quieter than the cafe because the _ had a rule against talking.",
        "library",
        "cafe",
        "1",
    ),
    (
        "The library was quieter than the cafe because the _ was full of people chatting.",
        "library",
        "cafe",
        "2",
    ),
]

# (question, correct, wrong x3)
ARC_EASY = [
    ("Which of these gives off its own light?", "the Sun", "the Moon", "a mirror", "a window"),
    (
        "Which gas do plants take in from the air to make their food?",
        "carbon dioxide",
        "helium",
        "neon",
        "hydrogen",
    ),
    ("In which state of matter is an ice cube?", "solid", "liquid", "gas", "plasma"),
    (
        "Which tool is best for measuring the length of a pencil?",
        "a ruler",
        "a thermometer",
        "a balance scale",
        "a stopwatch",
    ),
    (
        "Which organ pumps blood through the human body?",
        "the heart",
        "the lungs",
        "the stomach",
        "the brain",
    ),
    (
        "What causes day and night on Earth?",
        "Earth spinning on its axis",
        "Earth moving around the Sun",
        "the Moon moving around Earth",
        "clouds blocking the Sun",
    ),
    ("Which of these animals is a mammal?", "a dolphin", "a shark", "a trout", "an octopus"),
    (
        "At sea level, at about what temperature does pure water boil?",
        "100 °C",
        "0 °C",
        "37 °C",
        "500 °C",
    ),
    (
        "What is the main job of a plant's roots?",
        "to take in water and nutrients from the soil",
        "to make seeds",
        "to catch sunlight",
        "to attract insects",
    ),
    (
        "A magnet will pull on which of these objects?",
        "an iron nail",
        "a plastic spoon",
        "a wooden block",
        "a glass marble",
    ),
    (
        "A puddle is left in the sun on a warm day. What most likely happens to the water?",
        "It evaporates.",
        "It freezes.",
        "It turns into sand.",
        "It becomes salty.",
    ),
    ("Which planet is closest to the Sun?", "Mercury", "Venus", "Earth", "Mars"),
    (
        "What are animals that eat only plants called?",
        "herbivores",
        "carnivores",
        "predators",
        "decomposers",
    ),
    (
        "What kind of energy is stored in a battery?",
        "chemical energy",
        "sound energy",
        "light energy",
        "wind energy",
    ),
    (
        "What is a fossil?",
        "the preserved remains or traces of a living thing from long ago",
        "a kind of shiny crystal",
        "a gas that comes out of volcanoes",
        "a young plant just sprouting",
    ),
    ("Which of these is a renewable source of energy?", "wind", "coal", "oil", "natural gas"),
    (
        "What happens to most solids when they are heated?",
        "They expand.",
        "They shrink.",
        "They lose all their mass.",
        "They become magnetic.",
    ),
    (
        "Which body system breaks food down so the body can use it?",
        "the digestive system",
        "the skeletal system",
        "the nervous system",
        "the respiratory system",
    ),
    (
        "Why does the Moon seem to change shape during the month?",
        "We see different amounts of its sunlit half as it orbits Earth.",
        "Clouds cover parts of it.",
        "It grows and shrinks in size.",
        "Earth's shadow falls on it every night.",
    ),
    (
        "Which spoon would get hot fastest if placed in a cup of hot tea?",
        "a metal spoon",
        "a wooden spoon",
        "a plastic spoon",
        "a paper spoon",
    ),
    (
        "Seeds that are spread by the wind usually have which feature?",
        "light, fluffy or winged parts",
        "hard, heavy shells",
        "hooks that catch on fur",
        "sweet, juicy flesh",
    ),
    ("Which unit is used to measure mass?", "gram", "litre", "metre", "second"),
    (
        "A caterpillar changing into a butterfly is an example of what?",
        "metamorphosis",
        "erosion",
        "condensation",
        "photosynthesis",
    ),
    ("Which of these is a living thing?", "a mushroom", "a rock", "a raindrop", "a cloud"),
]

ARC_CHALLENGE = [
    (
        "A hammer and a feather are dropped at the same moment inside a tube with no air in it. What "
        "happens?",
        "They reach the bottom at the same time.",
        "The hammer lands first.",
        "The feather lands first.",
        "Both float in the middle of the tube.",
    ),
    (
        "Which of these is a chemical change?",
        "an iron gate rusting",
        "ice melting in a glass",
        "paper being torn in half",
        "sugar dissolving in water",
    ),
    (
        "A metal spoon and a wooden spoon have been in the same room all day. Why does the metal spoon "
        "feel colder to the touch?",
        "Metal conducts heat away from the hand faster than wood.",
        "The metal spoon is at a lower temperature than the room.",
        "Wood gives off heat of its own.",
        "Metal soaks up cold from the air.",
    ),
    (
        "A geologist rubs a mineral across a rough white tile to see the colour of its powder. Which "
        "property is being tested?",
        "streak",
        "luster",
        "density",
        "magnetism",
    ),
    (
        "In the food chain grass → rabbit → fox, what is the rabbit?",
        "a primary consumer",
        "a producer",
        "a decomposer",
        "a top predator",
    ),
    (
        "Which observation best supports the idea that some continents were once joined together?",
        "Matching fossils and rock layers are found on coasts that are now far apart.",
        "All of the continents have tall mountains and long rivers.",
        "The oceans between them are salty.",
        "Earthquakes happen on every continent.",
    ),
    (
        "Why is it warmer in the Northern Hemisphere in July than in January?",
        "The Northern Hemisphere is tilted toward the Sun, so sunlight strikes it more directly.",
        "Earth is much closer to the Sun in July.",
        "The Sun gives off more energy in July.",
        "The Moon reflects a great deal of extra sunlight onto the Northern Hemisphere in July.",
    ),
    ("Through which material does sound travel fastest?", "steel", "air", "water", "empty space"),
    (
        "A plant cell is placed in very salty water. What happens to the water inside the cell?",
        "Water moves out of the cell.",
        "More water moves into the cell.",
        "The water turns to ice.",
        "The water does not move at all.",
    ),
    (
        "Which process moves water from the leaves of plants into the air?",
        "transpiration",
        "condensation",
        "precipitation",
        "infiltration",
    ),
    (
        "A student builds an electromagnet from a battery, an iron nail and wire. Which change would "
        "make it stronger?",
        "wrapping more turns of wire around the nail",
        "using wire with a different colour of plastic",
        "peeling the label off the battery",
        "doing the test in the morning instead of the afternoon",
    ),
    (
        "Why do craters from long ago stay visible on the Moon much longer than on Earth?",
        "The Moon has no air or running water to wear them away.",
        "Meteorites only ever hit the Moon and never reach the surface of Earth.",
        "The Moon is larger than Earth.",
        "The Moon's craters are made of metal.",
    ),
    (
        "Equal spoonfuls of sugar are stirred into a cup of water at 20 °C and a cup at 80 °C. What "
        "most likely happens?",
        "The sugar dissolves faster in the 80 °C water.",
        "The sugar dissolves faster in the 20 °C water.",
        "The sugar dissolves at the same rate in both.",
        "The sugar does not dissolve in either cup.",
    ),
    (
        "Which of these is an inherited trait in people?",
        "natural eye colour",
        "the ability to ride a bicycle",
        "a scar from a fall",
        "speaking a second language",
    ),
    (
        "A student tests whether fertiliser helps bean plants grow. What should be the same for the "
        "plants with and without fertiliser?",
        "the amount of water and light they get",
        "the amount of fertiliser they get",
        "the colour of the pots' labels only",
        "nothing; every condition should be different",
    ),
    (
        "Which energy change takes place in a solar panel?",
        "light energy to electrical energy",
        "electrical energy to light energy",
        "chemical energy to heat energy",
        "sound energy to electrical energy",
    ),
    (
        "Which layer of Earth is made mostly of liquid iron and nickel?",
        "the outer core",
        "the crust",
        "the mantle",
        "the inner core",
    ),
    (
        "Which statement best explains why ice floats on water?",
        "Ice is less dense than liquid water.",
        "Ice is colder than liquid water.",
        "Ice is lighter because it contains salt.",
        "Water pushes all cold objects upward.",
    ),
    (
        "In which part of a plant cell does photosynthesis take place?",
        "the chloroplast",
        "the mitochondrion",
        "the nucleus",
        "the cell wall",
    ),
    (
        "Drops of water form on the outside of a glass of ice water on a warm day. Where does the "
        "water come from?",
        "water vapour in the air that condenses on the cold glass",
        "water that leaks through the glass",
        "ice melting on the outside of the glass",
        "the glass itself slowly melting in the warm air of the room around it",
    ),
    (
        "A ball rolled with the same push stops sooner on a carpet than on a wooden floor. Why?",
        "The carpet produces more friction.",
        "Gravity is stronger above the carpet.",
        "The wooden floor pushes the ball forward.",
        "The ball becomes heavier on the carpet.",
    ),
    (
        "What happens to the pull of gravity between two objects as they move closer together?",
        "It increases.",
        "It decreases.",
        "It stays the same.",
        "It disappears.",
    ),
    (
        "Why does a scientist repeat an experiment several times?",
        "to check that the results are reliable",
        "to change the question each time",
        "to make the data table longer",
        "to use up the leftover materials",
    ),
    (
        "Which of these is a renewable natural resource?",
        "trees in a managed forest",
        "coal",
        "crude oil",
        "iron ore",
    ),
]

# (question_stem, correct, wrong x3)
OBQA = [
    (
        "A magnet will stick to",
        "a steel fridge door",
        "a wooden table",
        "a glass window",
        "a cotton shirt",
    ),
    (
        "On a hot sunny day, which of these would melt first?",
        "a scoop of ice cream",
        "a steel nail",
        "a stone",
        "a brick",
    ),
    (
        "An animal that sleeps through the whole cold winter is",
        "hibernating",
        "migrating",
        "pollinating",
        "hatching",
    ),
    (
        "The main source of energy for almost all life on Earth is",
        "the Sun",
        "the Moon",
        "volcanoes",
        "the ocean floor",
    ),
    ("Rain falls to the ground from", "clouds", "mountains", "tree roots", "rivers"),
    ("A thermometer is used to measure", "temperature", "weight", "length", "speed"),
    (
        "To look at tiny cells in a drop of pond water, a student should use a",
        "microscope",
        "telescope",
        "compass",
        "stopwatch",
    ),
    (
        "Bees help flowering plants by",
        "carrying pollen from flower to flower",
        "eating the plants' roots",
        "shading the leaves from the sun",
        "digging holes for the seeds",
    ),
    (
        "A steel bicycle left out in the rain for many months will most likely",
        "rust",
        "grow larger",
        "turn into plastic",
        "become a magnet",
    ),
    (
        "Which of these lets electricity flow through it?",
        "a copper wire",
        "a rubber band",
        "a wooden stick",
        "a wool sock",
    ),
    (
        "When a room becomes dark, the pupils of a person's eyes",
        "get larger to let in more light",
        "get smaller to keep light out",
        "change colour",
        "close completely",
    ),
    (
        "A green plant kept in a dark cupboard for weeks will most likely",
        "turn pale and weak",
        "grow faster than before",
        "produce more fruit",
        "turn a brighter green",
    ),
    ("Sounds are made by", "vibrations", "shadows", "magnets", "reflections"),
    ("Which of these is a producer in a pond?", "algae", "a frog", "a fish", "a heron"),
    (
        "Rubbing your hands together quickly makes them warm because of",
        "friction",
        "magnetism",
        "evaporation",
        "reflection",
    ),
    (
        "Earth takes about one year to",
        "travel once around the Sun",
        "spin once on its axis",
        "travel once around the Moon",
        "move from one side of the galaxy to the other",
    ),
    ("Which of these is a gas at room temperature?", "oxygen", "wood", "milk", "sand"),
    ("A duck's webbed feet help it to", "swim", "fly higher", "dig tunnels", "climb trees"),
    ("Ice turning into liquid water is called", "melting", "freezing", "boiling", "condensing"),
    (
        "Which would keep a drink cold for the longest time?",
        "a closed vacuum flask",
        "a thin paper cup",
        "an open metal tray",
        "a glass left in the sun",
    ),
    (
        "Animals that hunt and eat other animals are called",
        "predators",
        "prey",
        "producers",
        "herbivores",
    ),
    (
        "Outdoor shadows are longest when the Sun is",
        "low in the sky near sunrise or sunset",
        "directly overhead at noon",
        "at its highest point in summer",
        "behind thick clouds",
    ),
    (
        "A compass needle points north because",
        "it is a magnet lined up with Earth's magnetic field",
        "it is pulled by the North Star",
        "the wind usually blows from the north",
        "it is heavier at one end",
    ),
    (
        "Which of these is a source of fresh water?",
        "a mountain stream",
        "the open sea",
        "a salt marsh",
        "a bag of sand",
    ),
]
