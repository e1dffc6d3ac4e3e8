"""Synthetic but plausible French news articles for the benchmarks (rebuild and memory).

Deterministic: article N is always the same text, and every article differs from every other one (its own town,
subject, figures and sentences), so that a 50-episode feed has 50 distinct scripts and nothing is shared by
accident in the clip cache except the intro line every episode really shares.
"""

from __future__ import annotations

import html
import random

TOWNS = ["Lyon", "Rennes", "Nantes", "Lille", "Strasbourg", "Bordeaux", "Toulouse", "Montpellier", "Grenoble",
         "Dijon", "Angers", "Brest", "Metz", "Nancy", "Reims", "Rouen", "Caen", "Limoges", "Poitiers", "Tours",
         "Orléans", "Besançon", "Clermont-Ferrand", "Perpignan", "Pau", "Bayonne", "Avignon", "Nîmes", "Amiens",
         "Le Havre", "Annecy", "Chambéry", "Valence", "Troyes", "Quimper", "Lorient", "Vannes", "La Rochelle",
         "Niort", "Colmar", "Mulhouse", "Saint-Étienne", "Le Mans", "Laval", "Bourges", "Auxerre", "Ajaccio",
         "Bastia", "Cherbourg", "Arras"]
SUBJECTS = [
    ("le tramway", "la ligne de tramway", "les travaux du tramway"),
    ("la médiathèque", "la nouvelle médiathèque", "le chantier de la médiathèque"),
    ("le marché couvert", "le marché couvert rénové", "la rénovation du marché"),
    ("la piscine municipale", "la piscine", "la réouverture de la piscine"),
    ("le festival d'été", "le festival", "la programmation du festival"),
    ("le budget participatif", "le budget participatif", "les projets retenus"),
    ("la piste cyclable", "la nouvelle piste cyclable", "l'aménagement cyclable"),
    ("l'usine de recyclage", "l'usine", "l'agrandissement de l'usine"),
    ("le lycée agricole", "le lycée", "les nouvelles filières du lycée"),
    ("la crue de la rivière", "la crue", "les dégâts de la crue"),
]
OPENINGS = [
    "Le conseil municipal de {town} a voté jeudi soir {what}, après plus de trois heures de débat.",
    "À {town}, {what} divise les habitants depuis le début de l'année.",
    "La préfecture a donné mardi son feu vert à {what}, un dossier suivi de près à {town}.",
    "Les riverains de {town} ont découvert lundi matin les premiers effets de {what}.",
    "C'est une décision attendue depuis des mois à {town} : {what} entre dans sa phase concrète.",
]
MIDDLES = [
    "Le coût total est estimé à {money} millions d'euros, dont un tiers financé par la région.",
    "Selon la mairie, {people} personnes sont directement concernées par le projet.",
    "Les premiers résultats sont attendus dans {months} mois, au plus tard à la fin de l'année prochaine.",
    "L'opposition dénonce un calendrier trop serré et réclame une consultation publique.",
    "Une réunion d'information aura lieu le {day} {month} à la salle des fêtes, à dix-huit heures.",
    "Les associations de quartier saluent une avancée, tout en restant vigilantes sur les délais.",
    "Le maire assure que les commerçants seront indemnisés pendant toute la durée des travaux.",
    "D'après une étude publiée en {year}, la fréquentation a progressé de {percent} pour cent en cinq ans.",
    "Les services techniques ont recensé {count} points à reprendre avant l'été.",
    "Plusieurs élus ont rappelé que le projet figurait déjà dans le programme de {year}.",
]
QUOTES = [
    ("« Nous avons entendu les inquiétudes, et nous y répondrons point par point », a déclaré l'adjointe chargée "
    "du dossier."),
    "« C'est un investissement pour les vingt prochaines années », estime un conseiller de la majorité.",
    "« Personne ne nous a demandé notre avis », regrette une habitante rencontrée devant la mairie.",
    "« Le calendrier sera tenu, j'en prends l'engagement », a promis le maire en fin de séance.",
]
CLOSINGS = [
    "Le dossier reviendra devant le conseil municipal à l'automne.",
    "La prochaine étape est fixée au printemps, avec le lancement de l'appel d'offres.",
    "Une pétition en ligne a déjà recueilli plus de {people} signatures.",
    "Les travaux devraient durer {months} mois, sauf intempéries.",
]
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "septembre", "octobre", "novembre", "décembre"]


def article_paragraphs(n: int, paragraphs: int = 3) -> tuple[str, list[str]]:
    """(title, paragraphs) of article N: a few paragraphs of two to four sentences."""
    rng = random.Random(n)
    town = TOWNS[n % len(TOWNS)]
    _subject, short, works = SUBJECTS[(n // len(TOWNS) + n) % len(SUBJECTS)]
    values = {"town": town, "what": works, "money": rng.randint(2, 90), "people": rng.randint(120, 9000),
              "months": rng.randint(3, 30), "day": rng.randint(2, 28), "month": rng.choice(MONTHS),
              "year": rng.randint(2015, 2024), "percent": rng.randint(3, 40), "count": rng.randint(4, 60)}
    title = f"À {town}, {short} au cœur des débats (épisode {n + 1})"
    body = [rng.choice(OPENINGS).format(**values)
            + " " + " ".join(rng.sample(MIDDLES, 2)).format(**values)]
    for _ in range(paragraphs - 2):
        body.append(" ".join(rng.sample(MIDDLES, 2)).format(**values) + " " + rng.choice(QUOTES))
    body.append(rng.choice(CLOSINGS).format(**values) + f" Article numéro {n + 1} de notre série sur {town}.")
    return title, body


def article_html(n: int, paragraphs: int = 3, extra: list[str] | None = None) -> str:
    """Article N as a small news page (canonical URL, date, byline), with optional extra paragraphs."""
    title, body = article_paragraphs(n, paragraphs)
    body += extra or []
    day = 1 + n % 28
    ps = "\n".join(f"    <p>{html.escape(p)}</p>" for p in body)
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="canonical" href="https://journal.example.fr/region/article-{n + 1}">
<meta property="article:published_time" content="2025-03-{day:02d}T08:00:00+01:00"></head>
<body><article>
  <h1>{html.escape(title)}</h1>
  <p class="byline">Par la rédaction locale</p>
{ps}
</article></body></html>
"""
