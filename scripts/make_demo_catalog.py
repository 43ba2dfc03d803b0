"""Write the demo catalog shipped in the package: "Lantern Books", an independent bookshop.

Every word here was written for discreet; no third-party data is used. The
generator combines hand-written, per-section vocabulary into titles and
one-paragraph descriptions, deterministically (fixed seed), so that the
committed files can be regenerated and reviewed:

    python scripts/make_demo_catalog.py src/discreet/_data/demo
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

SEED = 20261129


@dataclass(frozen=True)
class Section:
    id: str
    label: str
    description: str
    sensitive: bool
    parent: str | None
    count: int
    language: str
    titles: tuple[str, ...]
    words: dict[str, tuple[str, ...]]
    sentences: tuple[tuple[str, ...], ...]


def section(
    id: str,
    label: str,
    description: str,
    titles: tuple[str, ...],
    words: dict[str, tuple[str, ...]],
    sentences: tuple[tuple[str, ...], ...],
    *,
    count: int = 20,
    sensitive: bool = False,
    parent: str | None = None,
    language: str = "en",
) -> Section:
    return Section(
        id, label, description, sensitive, parent, count, language, titles, words, sentences
    )


#: Each category's label in Spanish: the catalog shows them to Spanish speakers.
LABELS_ES = {
    "literary-fiction": "Narrativa literaria",
    "crime": "Novela negra y misterio",
    "sf-fantasy": "Ciencia ficción y fantasía",
    "history": "Historia",
    "science": "Ciencia y naturaleza",
    "travel": "Viajes",
    "food": "Cocina y bebidas",
    "art": "Arte y diseño",
    "children": "Libros infantiles",
    "poetry": "Poesía",
    "home-garden": "Casa y jardín",
    "ideas": "Filosofía e ideas",
    "health": "Salud y bienestar",
    "mental-health": "Salud mental",
    "religion": "Religión y espiritualidad",
    "politics": "Política y sociedad",
}

SECTIONS = [
    section(
        "literary-fiction",
        "Literary fiction",
        "Novels and stories about inner lives.",
        (
            "The {place} of {noun}",
            "{Adj} {Noun}",
            "A {Noun} in {Season}",
            "The {Noun} Keeper",
            "What the {Noun} Remembers",
            "Letters from the {Place}",
            "The Last {Noun} of {Season}",
        ),
        {
            "noun": (
                "salt",
                "orchards",
                "glass",
                "rain",
                "small mercies",
                "borrowed light",
                "quiet rooms",
                "tides",
            ),
            "Noun": (
                "Lighthouse",
                "Orchard",
                "Ferry",
                "Garden",
                "Archive",
                "Piano",
                "Harbour",
                "Winter House",
            ),
            "Adj": ("Quiet", "Borrowed", "Unfinished", "Salt-Stained", "Distant", "Paper", "Late"),
            "place": ("House", "Valley", "Harbour", "Street", "Island"),
            "Place": ("Harbour", "Valley", "Lake House", "Border", "North Shore"),
            "Season": ("Autumn", "Winter", "Late Summer", "the Long Spring"),
            "who": (
                "two estranged sisters",
                "a widowed ferry captain",
                "a young piano tuner",
                "three generations of a fishing family",
                "a retired schoolteacher",
                "an archivist with a secret",
            ),
            "theme": (
                "grief and forgiveness",
                "memory and the stories families tell",
                "love that arrives too late",
                "leaving home and coming back",
                "friendship across forty years",
            ),
        },
        (
            (
                "A tender novel in which {who} must face {theme}.",
                "Told over a single {season_l}, this novel follows {who} through {theme}.",
                "{Who_c} return to a half-empty town and to questions of {theme}.",
            ),
            (
                "The prose is spare and luminous, and the small details of daily life carry great weight.",
                "Its chapters move between past and present, each one a closely observed scene.",
                "Moments of unexpected humour lighten a story that never looks away.",
            ),
            (
                "A book for readers who love character above plot.",
                "Our booksellers pressed it into the hands of everyone who came in that week.",
                "Ideal for a slow weekend and a pot of tea.",
            ),
        ),
    ),
    section(
        "crime",
        "Crime & mystery",
        "Detectives, thrillers and puzzles.",
        (
            "Murder at the {Place}",
            "The {Adj} Witness",
            "{Noun} Street Killings",
            "A Body in the {Place}",
            "The {Noun} Affair",
            "Death by {Noun}",
            "The {Adj} Alibi",
        ),
        {
            "Place": (
                "Old Mill",
                "Harbour Hotel",
                "Botanical Garden",
                "Night Ferry",
                "Village Fete",
                "Cathedral Close",
            ),
            "Adj": ("Silent", "Reluctant", "Vanishing", "Crooked", "Midnight", "Second"),
            "Noun": ("Ashford", "Lantern", "Clockmaker", "Orchid", "Marble", "Ledger", "Chess"),
            "who": (
                "a retired inspector",
                "a sharp-tongued village pharmacist",
                "a rookie detective on her first case",
                "a crossword setter",
                "a harbour master who notices everything",
            ),
            "crime": (
                "a locked-room poisoning",
                "a disappearance during a storm",
                "a forged will and a missing heir",
                "a series of thefts from the local museum",
                "a body found under the pier",
            ),
        },
        (
            (
                "When {crime} shakes a quiet community, {who} starts asking the questions no one wants answered.",
                "{Who_c} is drawn into {crime} and a web of old grudges.",
                "A classic puzzle: {crime}, six suspects and one stubborn investigator.",
            ),
            (
                "The clues are fair, the red herrings are clever and the final chapter turns everything around.",
                "Tense, twisty and full of atmosphere, it keeps its secrets until the very end.",
                "Dark humour and sharp dialogue carry a plot that moves at speed.",
            ),
            (
                "Perfect for fans of traditional whodunnits.",
                "The first in a series we cannot stop recommending.",
                "Start it early: you will want to finish it in one sitting.",
            ),
        ),
    ),
    section(
        "sf-fantasy",
        "Science fiction & fantasy",
        "Other worlds, futures and magic.",
        (
            "The {Adj} Star",
            "Children of the {Noun}",
            "The {Noun} Protocol",
            "A Map of {Place}",
            "The {Noun} Engine",
            "Beyond the {Place}",
            "The {Adj} Crown",
        ),
        {
            "Adj": ("Drowned", "Broken", "Iron", "Seventh", "Hollow", "Silver"),
            "Noun": ("Comet", "Forge", "Orbit", "Tidewater", "Archive", "Clockwork", "Signal"),
            "Place": (
                "Unwritten Lands",
                "Outer Ring",
                "Glass Mountains",
                "Last Colony",
                "Sunken City",
            ),
            "who": (
                "a starship navigator",
                "an apprentice map-maker",
                "a reluctant heir to a broken throne",
                "a botanist on a dying generation ship",
                "a thief who can hear machines think",
            ),
            "stake": (
                "a signal from a planet thought empty",
                "a magic that is running out",
                "a war between rival guilds of engineers",
                "an ancient archive that rewrites itself",
                "a sea that rises a little further every night",
            ),
        },
        (
            (
                "{Who_c} discovers {stake}, and nothing is the same afterwards.",
                "In a world shaped by {stake}, {who} must choose a side.",
                "An epic journey begins when {who} uncovers {stake}.",
            ),
            (
                "The world-building is rich without ever slowing the story.",
                "Big ideas about power, memory and technology sit inside a gripping adventure.",
                "Inventive, warm-hearted and full of wonder.",
            ),
            (
                "A standalone novel that reads like the start of a saga.",
                "For readers who grew up on classic space opera and want something new.",
                "One of the most imaginative books on our shelves this year.",
            ),
        ),
    ),
    section(
        "history",
        "History",
        "The past, told well.",
        (
            "The {Adj} Century",
            "Empires of {Noun}",
            "The Road to {Place}",
            "A History of {noun} in {Count} Objects",
            "The {Noun} Years",
            "Rivers of {Noun}",
        ),
        {
            "Adj": ("Long", "Forgotten", "Restless", "Copper", "Printing"),
            "Noun": ("Salt", "Silk", "Paper", "Iron", "Spice", "Grain"),
            "noun": ("bread", "maps", "clocks", "ships", "coins", "letters"),
            "Place": ("Samarkand", "Lisbon", "the Cape", "Venice", "Timbuktu"),
            "Count": ("Twenty", "Fifty", "Thirty", "One Hundred"),
            "topic": (
                "the trade routes that connected continents",
                "ordinary life in medieval towns",
                "the invention of printing and what it changed",
                "the cities of the ancient Mediterranean",
                "how maps shaped empires",
                "the long history of bread and the people who baked it",
            ),
        },
        (
            (
                "A vivid account of {topic}, drawn from letters, ledgers and archaeology.",
                "This book traces {topic} through the lives of the people who lived it.",
                "An accessible, deeply researched history of {topic}.",
            ),
            (
                "It moves easily between grand events and small, human details.",
                "Each chapter begins with a single object and widens into a whole world.",
                "Maps and illustrations make the story easy to follow.",
            ),
            (
                "Popular history at its best.",
                "A favourite with our history book group.",
                "For curious readers of every age.",
            ),
        ),
    ),
    section(
        "science",
        "Science & nature",
        "How the world works, from atoms to forests.",
        (
            "The {Adj} Planet",
            "Secrets of the {Noun}",
            "What the {Noun} Knows",
            "The Hidden Life of {noun}",
            "A Brief Tour of {noun}",
            "The {Noun} Problem",
        ),
        {
            "Adj": ("Living", "Restless", "Breathing", "Quiet", "Electric"),
            "Noun": ("Forest", "Ocean", "Cell", "Atom", "Sky", "Soil", "Octopus"),
            "noun": ("fungi", "rivers", "birds", "bees", "clouds", "stars", "the deep sea"),
            "topic": (
                "the networks that connect trees underground",
                "the physics of everyday things",
                "how birds navigate across oceans",
                "the chemistry of the kitchen",
                "the life of coral reefs",
                "what we know and do not know about the universe",
            ),
        },
        (
            (
                "A clear and joyful guide to {topic}.",
                "The author, a working scientist, explains {topic} without a single equation.",
                "Full of surprising facts, this book explores {topic}.",
            ),
            (
                "Complex ideas are made simple without being simplified.",
                "Field notes, experiments you can try at home and beautiful diagrams fill its pages.",
                "It will change the way you look out of the window.",
            ),
            (
                "For anyone who ever asked why.",
                "A wonderful gift for a curious teenager or a curious grandparent.",
                "Shortlisted for several science writing prizes.",
            ),
        ),
    ),
    section(
        "travel",
        "Travel",
        "Journeys, guides and places.",
        (
            "Slow Roads Through {Place}",
            "The {Adj} Train",
            "Walking the {Place}",
            "A Year in {Place}",
            "{Place} on Foot",
            "Islands of the {Noun}",
        ),
        {
            "Place": (
                "Patagonia",
                "the Balkans",
                "Hokkaido",
                "the Atlas Mountains",
                "Norway",
                "the Silk Road",
                "Scotland",
            ),
            "Adj": ("Night", "Slow", "Northern", "Mountain", "Overland"),
            "Noun": ("North", "South Seas", "Aegean", "Wind"),
            "trip": (
                "a thousand miles by train",
                "a summer walking ancient pilgrim paths",
                "a winter among fishing villages",
                "a journey by bicycle and ferry",
                "a season living with a mountain family",
            ),
        },
        (
            (
                "The author spent {trip}, and brings back stories of the people met along the way.",
                "A lyrical travelogue about {trip}.",
                "Part memoir, part guide: {trip}, told with warmth and wit.",
            ),
            (
                "Practical tips sit alongside reflections on landscape, food and language.",
                "Every chapter made our staff want to pack a bag.",
                "It celebrates slow travel and the pleasure of getting a little lost.",
            ),
            (
                "For armchair travellers and real ones.",
                "Includes maps and a list of places to stay.",
                "Read it before your next trip, or instead of it.",
            ),
        ),
    ),
    section(
        "food",
        "Food & drink",
        "Cookbooks and writing about food.",
        (
            "{Noun} and {Noun2}",
            "The {Adj} Kitchen",
            "Cooking with {noun}",
            "A Table in {Place}",
            "The {Adj} Baker",
            "Everyday {Noun}",
        ),
        {
            "Noun": ("Bread", "Salt", "Soup", "Rice", "Spice", "Fire"),
            "Noun2": ("Butter", "Smoke", "Herbs", "Honey", "Lemons"),
            "Adj": ("Seasonal", "Small", "Vegetable", "Weekday", "Sunday", "Slow"),
            "noun": ("grains", "vegetables", "the seasons", "one pot", "leftovers"),
            "Place": ("Oaxaca", "Naples", "Istanbul", "Kerala", "Lyon"),
            "topic": (
                "simple vegetable cooking for every day",
                "baking bread at home, from first loaf to sourdough",
                "one-pot dinners for busy evenings",
                "the regional cooking of a single valley",
                "preserving, pickling and fermenting the harvest",
            ),
        },
        (
            (
                "More than a hundred recipes for {topic}.",
                "A warm, practical cookbook about {topic}.",
                "This book is a love letter to {topic}, with recipes tested in a small home kitchen.",
            ),
            (
                "Clear instructions, honest timings and ingredients you can find.",
                "Stories about family, markets and cooks sit between the recipes.",
                "Beautiful photographs show exactly what to aim for.",
            ),
            (
                "The cookbook our staff actually cook from.",
                "A perfect gift for a new kitchen.",
                "Suitable for confident beginners.",
            ),
        ),
    ),
    section(
        "art",
        "Art & design",
        "Painting, photography, architecture and craft.",
        (
            "The {Adj} Eye",
            "Ways of {Verb}",
            "{Noun} and Light",
            "The Art of {noun}",
            "A Short History of {noun}",
            "Made by Hand: {Noun}",
        ),
        {
            "Adj": ("Patient", "Modern", "Curious", "Careful"),
            "Verb": ("Seeing", "Making", "Drawing", "Building"),
            "Noun": ("Colour", "Stone", "Paper", "Clay", "Wood", "Line"),
            "noun": (
                "the poster",
                "the chair",
                "watercolour",
                "typography",
                "the city",
                "photography",
            ),
            "topic": (
                "how to look closely at a painting",
                "the design of everyday objects",
                "the lives of women photographers",
                "architecture that shaped how we live",
                "traditional crafts and the people who keep them alive",
            ),
        },
        (
            (
                "A beautifully illustrated book about {topic}.",
                "This generous book explores {topic}.",
                "Short essays and large plates introduce {topic}.",
            ),
            (
                "It is as good to browse as it is to read from cover to cover.",
                "Exercises at the end of each chapter invite you to try for yourself.",
                "The printing and paper are a pleasure in themselves.",
            ),
            (
                "A book to keep on the table, not the shelf.",
                "For students, makers and anyone who loves good design.",
                "An ideal gift.",
            ),
        ),
    ),
    section(
        "children",
        "Children's books",
        "Picture books and stories for young readers.",
        (
            "The {Adj} {Animal}",
            "{Name} and the {Noun}",
            "Where the {Noun} Sleeps",
            "The {Animal} Who {Did}",
            "Goodnight, {Noun}",
            "A {Noun} for {Name}",
        ),
        {
            "Adj": ("Littlest", "Brave", "Sleepy", "Curious", "Noisy"),
            "Animal": ("Fox", "Hedgehog", "Whale", "Owl", "Dragon", "Bear"),
            "Name": ("Mila", "Otto", "Noor", "Pip", "Lucía", "Kofi"),
            "Noun": ("Moon", "Kite", "Lighthouse", "Snow", "Rainbow", "Garden"),
            "Did": (
                "Lost Its Roar",
                "Wanted to Fly",
                "Was Afraid of the Dark",
                "Counted the Stars",
            ),
            "story": (
                "a small animal learns to be brave",
                "two friends build something together",
                "a child finds a way to say sorry",
                "a long journey ends at home",
                "bedtime comes to a busy forest",
            ),
        },
        (
            (
                "A gentle picture book in which {story}.",
                "A funny, rhyming story where {story}.",
                "Bright illustrations tell how {story}.",
            ),
            (
                "Perfect for reading aloud, with pages little hands can point at.",
                "The pictures hide small surprises to find on every reading.",
                "Short sentences make it a good first book for new readers.",
            ),
            ("For ages three to six.", "A bedtime favourite in our shop.", "For ages five and up."),
        ),
    ),
    section(
        "poetry",
        "Poetry",
        "Collections and anthologies.",
        (
            "{Noun} Songs",
            "The {Adj} Hour",
            "Poems for {Noun}",
            "A Field of {noun}",
            "After the {Noun}",
        ),
        {
            "Noun": ("River", "Harvest", "Kitchen", "Morning", "Winter", "Rain"),
            "Adj": ("Blue", "Late", "Open", "Unquiet"),
            "noun": ("small hours", "clover", "wild weather", "bright things"),
            "topic": (
                "love, loss and the natural world",
                "ordinary days and the people in them",
                "cities at night",
                "the sea and those who work on it",
                "language, migration and home",
            ),
        },
        (
            (
                "A new collection of poems about {topic}.",
                "These poems explore {topic} with music and precision.",
                "An anthology gathering voices on {topic}.",
            ),
            (
                "Short lyric poems sit beside longer sequences.",
                "The language is plain and then suddenly dazzling.",
                "Each poem rewards a second reading aloud.",
            ),
            (
                "For anyone who thinks poetry is not for them.",
                "A beautiful small book to carry around.",
                "Winner of a first-collection prize.",
            ),
        ),
    ),
    section(
        "home-garden",
        "Home & garden",
        "Gardening, houseplants and making a home.",
        (
            "The {Adj} Garden",
            "Growing {noun}",
            "A Year of {Noun}",
            "The Small-Space {Noun}",
            "Soil, Seed and {Noun}",
        ),
        {
            "Adj": ("Balcony", "Wild", "Kitchen", "Shade", "No-Dig"),
            "noun": ("vegetables in pots", "herbs indoors", "fruit trees", "flowers from seed"),
            "Noun": ("Compost", "Houseplants", "Gardener", "Patience", "Seasons", "Bees"),
            "topic": (
                "growing food in small spaces",
                "a wildlife-friendly garden",
                "caring for houseplants",
                "gardening without digging",
                "mending and making things for the home",
            ),
        },
        (
            (
                "A practical, encouraging guide to {topic}.",
                "Month by month, this book shows how to start {topic}.",
                "Everything you need to know about {topic}, from a lifelong gardener.",
            ),
            (
                "Step-by-step photographs and honest advice about what can go wrong.",
                "It favours low-cost, sustainable methods.",
                "Charts and planting plans make it easy to begin.",
            ),
            (
                "For complete beginners.",
                "For the gardener who has tried everything.",
                "Good for renters as well as owners.",
            ),
        ),
    ),
    section(
        "ideas",
        "Philosophy & ideas",
        "Philosophy, essays and big questions.",
        (
            "The {Adj} Question",
            "On {Noun}",
            "Thinking about {noun}",
            "A Short Book about {noun}",
            "The Art of {Noun}",
        ),
        {
            "Adj": ("Open", "Oldest", "Simple", "Hard"),
            "Noun": ("Attention", "Time", "Friendship", "Doubt", "Boredom", "Walking"),
            "noun": ("free will", "fairness", "the good life", "memory", "machines and minds"),
            "topic": (
                "how to live a good life",
                "what we owe to strangers",
                "whether machines can think",
                "the nature of time",
                "why attention matters",
            ),
        },
        (
            (
                "A lively introduction to {topic}.",
                "Short essays that ask {topic}.",
                "The author, a teacher of philosophy, explores {topic} through stories and thought experiments.",
            ),
            (
                "Clear arguments, no jargon and plenty of examples from everyday life.",
                "Ancient and modern thinkers meet on every page.",
                "It leaves you with better questions rather than easy answers.",
            ),
            (
                "A perfect first book of philosophy.",
                "For book groups who like a good argument.",
                "Read a chapter a day.",
            ),
        ),
    ),
    section(
        "health",
        "Health & wellbeing",
        "Bodies, minds and care.",
        (
            "The {Adj} Body",
            "Better {Noun}",
            "A Guide to {noun}",
            "Living with {noun}",
            "The {Noun} Book",
        ),
        {
            "Adj": ("Resilient", "Moving", "Rested", "Balanced"),
            "Noun": ("Sleep", "Breathing", "Posture", "Recovery", "Nutrition"),
            "noun": ("chronic pain", "back care", "healthy ageing", "diabetes", "running injuries"),
            "topic": (
                "sleeping better",
                "living well with a long-term condition",
                "exercise after fifty",
                "caring for someone who is ill",
                "eating well on a budget",
            ),
        },
        (
            (
                "A calm, evidence-based guide to {topic}.",
                "Written by a clinician, this book covers {topic}.",
                "Practical advice on {topic}, with stories from patients.",
            ),
            (
                "It explains the science simply and offers small, realistic steps.",
                "Checklists and plans help turn advice into habits.",
                "It never promises miracles, only what the evidence supports.",
            ),
            (
                "Not a substitute for medical advice.",
                "Useful for patients, carers and families.",
                "Reviewed by practising doctors.",
            ),
        ),
        sensitive=True,
    ),
    section(
        "mental-health",
        "Mental health",
        "Anxiety, mood and emotional wellbeing.",
        (
            "Quiet the {Noun}",
            "The {Adj} Mind",
            "Notes on {noun}",
            "After the {Noun}",
            "Small Steps Out of {noun}",
        ),
        {
            "Noun": ("Storm", "Noise", "Worry", "Fog"),
            "Adj": ("Anxious", "Steady", "Kind", "Restless"),
            "noun": ("anxiety", "low mood", "grief", "burnout", "panic"),
            "topic": (
                "anxiety and how to live with it",
                "recovering from burnout",
                "grief and the long road through it",
                "low mood and depression",
                "being kinder to yourself",
            ),
        },
        (
            (
                "A compassionate guide to {topic}.",
                "Drawing on therapy and personal experience, this book explores {topic}.",
                "Gentle exercises and honest stories about {topic}.",
            ),
            (
                "It offers tools from cognitive and mindfulness-based approaches.",
                "Each chapter ends with something to try today.",
                "The tone is warm, clear and never preachy.",
            ),
            (
                "If you are struggling, please also talk to someone you trust or a professional.",
                "A book to keep by the bed.",
                "For readers and for those who support them.",
            ),
        ),
        sensitive=True,
        parent="health",
        count=12,
    ),
    section(
        "religion",
        "Religion & spirituality",
        "Faith traditions, belief and practice.",
        (
            "The {Adj} Path",
            "Prayers of {Noun}",
            "A History of {noun}",
            "Voices of {Noun}",
            "The Book of {Noun}",
        ),
        {
            "Adj": ("Narrow", "Quiet", "Ancient", "Pilgrim"),
            "Noun": ("Stillness", "Hope", "Faith", "Silence", "the Desert"),
            "noun": ("pilgrimage", "monastic life", "sacred music", "the world's religions"),
            "topic": (
                "the great world religions and what they share",
                "meditation and contemplative prayer",
                "the history of pilgrimage",
                "faith and doubt in modern life",
                "sacred texts and how to read them",
            ),
        },
        (
            (
                "A thoughtful introduction to {topic}.",
                "This book explores {topic} with respect and curiosity.",
                "Writers from many traditions reflect on {topic}.",
            ),
            (
                "It is written for believers and sceptics alike.",
                "History, scripture and personal testimony are woven together.",
                "Clear and generous, it takes every tradition seriously.",
            ),
            (
                "For readers seeking understanding rather than answers.",
                "A calm companion for reflection.",
                "Includes a reading list for going further.",
            ),
        ),
        sensitive=True,
    ),
    section(
        "politics",
        "Politics & society",
        "Power, democracy and public life.",
        (
            "The {Adj} Republic",
            "Who Governs {Noun}?",
            "The Politics of {noun}",
            "A Citizen's Guide to {noun}",
            "The {Noun} Divide",
        ),
        {
            "Adj": ("Fragile", "Divided", "Open", "Restless"),
            "Noun": ("Cities", "Everyone", "the Future", "Housing", "Rural"),
            "noun": ("elections", "housing", "migration", "protest", "the press"),
            "topic": (
                "how democracies are changing",
                "the fight over housing in growing cities",
                "migration and the politics of borders",
                "the history of protest movements",
                "how elections are won and lost",
            ),
        },
        (
            (
                "A sharp, balanced account of {topic}.",
                "This book examines {topic} with data and reporting.",
                "An essential guide to {topic}.",
            ),
            (
                "It presents competing views fairly and lets the evidence speak.",
                "Interviews with voters, officials and activists bring it to life.",
                "Clear charts explain the numbers behind the headlines.",
            ),
            (
                "For anyone who wants to understand the news.",
                "A book to argue about.",
                "Updated with a new afterword.",
            ),
        ),
        sensitive=True,
    ),
    # Spanish-language books, shelved by subject like every other title.
    section(
        "literary-fiction",
        "Literary fiction",
        "",
        (
            "La casa de {sust}",
            "El {adj} {Sust}",
            "Cartas desde {lugar}",
            "El último verano en {lugar}",
        ),
        {
            "sust": ("los limoneros", "la sal", "las olas", "los espejos"),
            "adj": ("largo", "último", "pequeño", "viejo"),
            "Sust": ("invierno", "faro", "jardín", "silencio"),
            "lugar": ("el puerto", "Valparaíso", "la sierra", "la costa"),
            "quien": (
                "dos hermanas que no se hablan",
                "un viejo pescador",
                "una maestra jubilada",
                "tres generaciones de una familia",
            ),
            "tema": (
                "la memoria y el perdón",
                "el regreso a casa",
                "un amor que llega tarde",
                "la amistad y la pérdida",
            ),
        },
        (
            (
                "Una novela íntima en la que {quien} se enfrentan a {tema}.",
                "Durante un verano, {quien} descubren {tema}.",
            ),
            (
                "La prosa es sencilla y luminosa, llena de pequeños detalles.",
                "Pasado y presente se alternan en capítulos breves.",
            ),
            (
                "Para lectores que aman los personajes.",
                "Una de nuestras recomendaciones favoritas.",
            ),
        ),
        count=12,
        language="es",
    ),
    section(
        "food",
        "Food & drink",
        "",
        ("Cocina de {lugar}", "Sopas y {sust}", "La {adj} cocina", "Pan, sal y {sust}"),
        {
            "lugar": ("mercado", "temporada", "la abuela", "Oaxaca"),
            "sust": ("guisos", "verduras", "aceite", "especias"),
            "adj": ("pequeña", "buena", "sencilla", "lenta"),
            "tema": (
                "la cocina de temporada",
                "los guisos lentos de invierno",
                "el pan hecho en casa",
                "las recetas familiares de siempre",
            ),
        },
        (
            ("Más de cien recetas sobre {tema}.", "Un libro práctico y cálido sobre {tema}."),
            (
                "Instrucciones claras e ingredientes fáciles de encontrar.",
                "Historias de mercados y cocineras acompañan las recetas.",
            ),
            ("El libro de cocina que más usamos.", "Un regalo perfecto."),
        ),
        count=12,
        language="es",
    ),
    section(
        "travel",
        "Travel",
        "",
        ("Caminos de {lugar}", "En tren por {lugar}", "Un año en {lugar}", "Islas del {sust}"),
        {
            "lugar": ("Galicia", "los Andes", "Patagonia", "Marruecos"),
            "sust": ("sur", "viento", "norte"),
            "viaje": (
                "mil kilómetros en tren",
                "un verano a pie por caminos antiguos",
                "un invierno entre pueblos de pescadores",
                "un viaje en bicicleta y barco",
            ),
        },
        (
            (
                "El autor recorrió {viaje} y nos trae las historias de la gente que conoció.",
                "Un relato de viaje lírico: {viaje}.",
            ),
            (
                "Consejos prácticos junto a reflexiones sobre el paisaje y la comida.",
                "Cada capítulo da ganas de hacer la maleta.",
            ),
            ("Para viajeros de sillón y de verdad.", "Incluye mapas."),
        ),
        count=10,
        language="es",
    ),
    section(
        "children",
        "Children's books",
        "",
        ("El {animal} {adj}", "{nombre} y la {sust}", "Buenas noches, {sust}"),
        {
            "animal": ("zorro", "erizo", "búho", "oso"),
            "adj": ("valiente", "dormilón", "curioso"),
            "nombre": ("Lucía", "Mateo", "Noor", "Pablo"),
            "sust": ("luna", "cometa", "nieve"),
            "historia": (
                "un animal pequeño aprende a ser valiente",
                "dos amigos construyen algo juntos",
                "un largo viaje termina en casa",
            ),
        },
        (
            (
                "Un álbum ilustrado en el que {historia}.",
                "Una historia divertida donde {historia}.",
            ),
            ("Perfecto para leer en voz alta.", "Las ilustraciones esconden sorpresas."),
            ("De tres a seis años.", "Un favorito a la hora de dormir."),
        ),
        count=8,
        language="es",
    ),
    section(
        "health",
        "Health & wellbeing",
        "",
        ("Dormir {adj}", "Guía de {sust}", "El cuerpo {adj}"),
        {
            "adj": ("mejor", "tranquilo", "en calma"),
            "sust": ("la respiración", "la espalda", "la salud"),
            "tema": ("dormir mejor", "vivir con dolor crónico", "cuidar de un familiar enfermo"),
        },
        (
            (
                "Una guía serena y basada en la evidencia sobre {tema}.",
                "Escrito por una médica, este libro trata {tema}.",
            ),
            (
                "Explica la ciencia con sencillez y propone pasos pequeños.",
                "Incluye listas y planes prácticos.",
            ),
            ("No sustituye el consejo médico.", "Útil para pacientes y familias."),
        ),
        sensitive=True,
        count=6,
        language="es",
    ),
]

SMALL_WORDS = {"a", "an", "and", "the", "of", "in", "on", "for", "to", "by", "out", "with", "at"}


def _title_case(title: str, language: str) -> str:
    """English titles capitalise the main words; Spanish ones only the first word."""
    if language != "en":
        return title[0].upper() + title[1:]
    words = title.split(" ")
    return " ".join(
        w if (i and w in SMALL_WORDS) else w[0].upper() + w[1:] for i, w in enumerate(words)
    )


def _fill(
    template: str, words: dict[str, tuple[str, ...]], rng: random.Random, chosen: dict[str, str]
) -> str:
    out = template
    while "{" in out:
        start = out.index("{")
        end = out.index("}", start)
        key = out[start + 1 : end]
        if key in chosen:
            value = chosen[key]
        elif key.endswith("_c") and key[:-2].lower() in chosen:
            value = chosen[key[:-2].lower()]
            value = value[0].upper() + value[1:]
        elif key == "season_l":
            value = rng.choice(("winter", "summer", "spring", "autumn"))
        else:
            base = key[:-2].lower() if key.endswith("_c") else key
            value = rng.choice(words[base])
            chosen[base] = value
            if key.endswith("_c"):
                value = value[0].upper() + value[1:]
        chosen[key] = value
        out = out[:start] + value + out[end + 1 :]
    return out


def make(out_dir: Path) -> None:
    rng = random.Random(SEED)
    categories: dict[str, dict[str, object]] = {}
    items: list[dict[str, object]] = []
    titles: set[str] = set()
    related = {
        "food": "travel",
        "travel": "food",
        "science": "home-garden",
        "home-garden": "science",
        "history": "politics",
        "ideas": "religion",
        "art": "history",
        "children": "art",
        "mental-health": "ideas",
        "poetry": "literary-fiction",
        "crime": "literary-fiction",
        "sf-fantasy": "science",
        "health": "food",
    }
    for sec in SECTIONS:
        if sec.id not in categories:
            entry: dict[str, object] = {
                "id": sec.id,
                "label": {"en": sec.label, "es": LABELS_ES[sec.id]},
                "description": sec.description,
                "sensitive": sec.sensitive,
            }
            if sec.parent:
                entry["parent"] = sec.parent
                entry["sensitive"] = False  # inherited from the parent
            categories[sec.id] = entry
        made = 0
        while made < sec.count:
            chosen: dict[str, str] = {}
            title = _title_case(_fill(rng.choice(sec.titles), sec.words, rng, chosen), sec.language)
            if title in titles:
                continue
            titles.add(title)
            text = " ".join(
                _fill(rng.choice(options), sec.words, rng, chosen) for options in sec.sentences
            )
            cats = [sec.id]
            if sec.id in related and rng.random() < 0.2:
                cats.append(related[sec.id])
            created = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(0, 14 * 365))
            items.append(
                {
                    "id": f"lb-{len(items) + 1:04d}",
                    "title": title,
                    "text": text,
                    "categories": cats,
                    "created": created.isoformat(),
                    "language": sec.language,
                }
            )
            made += 1
    order = list(range(len(items)))
    rng.shuffle(order)
    shuffled = [items[i] for i in order]
    for new_id, item in enumerate(shuffled, start=1):
        item["id"] = f"lb-{new_id:04d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "items.jsonl").open("w", encoding="utf-8") as f:
        for item in shuffled:
            f.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
    taxonomy = {"format_version": 1, "categories": list(categories.values())}
    (out_dir / "taxonomy.json").write_text(
        json.dumps(taxonomy, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    notices = [
        {
            "id": "welcome-2026",
            "severity": "info",
            "title": {
                "en": "How Lantern Books recommends",
                "es": "Cómo recomienda Lantern Books",
            },
            "body": {
                "en": "Recommendations are worked out on this device from what you do here. "
                "Only anonymous, noisy counts are ever sent, and only if you agree.",
                "es": "Las recomendaciones se calculan en este dispositivo a partir de lo que "
                "haces aquí. Solo se envían recuentos anónimos y con ruido, y solo si aceptas.",
            },
            "date": "2026-11-01",
        }
    ]
    (out_dir / "notices.json").write_text(
        json.dumps(notices, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"{len(items)} items, {len(categories)} categories -> {out_dir}")


if __name__ == "__main__":
    make(Path(sys.argv[1] if len(sys.argv) > 1 else "src/discreet/_data/demo"))
