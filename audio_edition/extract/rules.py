"""The extraction rules, as data a maintainer can extend.

Every list here is matched by small functions in `tree.py`, `body.py` and `lines.py`. To teach the extractor a new site's widget,
add its class name or label here rather than writing code. Text patterns are matched on a block's text with
whitespace folded; they are anchored so they only remove short furniture lines, never a paragraph that
merely mentions the words.
"""

from __future__ import annotations

import re

# --- elements -----------------------------------------------------------------------------------------------
# Never text, whatever the page says: removed first, before anything is measured.
NEVER_TEXT_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "frame", "frameset", "object",
                             "embed", "applet", "video", "audio", "canvas", "svg", "math", "link", "meta", "head"})
# Page structure that is not article text: removed with everything inside (unless it holds the article).
DROP_TAGS = frozenset({
    "script", "style", "noscript", "template", "iframe", "frame", "frameset", "object", "embed", "applet",
    "video", "audio", "source", "track", "canvas", "svg", "math", "map", "picture", "img", "figure", "figcaption",
    "form", "button", "input", "select", "textarea", "label", "option", "dialog", "nav", "footer", "aside",
    "link", "meta", "head", "title", "base", "menu",
})
# AMP components that are media, ads or widgets (amp-fit-text and friends hold real text and stay).
DROP_TAG_PREFIXES = ("amp-",)
KEEP_AMP_TAGS = frozenset({"amp-fit-text", "amp-accordion", "amp-layout", "amp-story", "amp-story-page",
                           "amp-story-grid-layer", "amp-selector"})

BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "body", "center", "dd", "details", "div", "dl", "dt", "fieldset",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "thead", "tfoot", "td", "th", "tr", "ul", "caption", "html",
})
HEADING_TAGS = ("h2", "h3", "h4", "h5", "h6")

# Roles and attributes that mark page furniture.
DROP_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alert",
                        "alertdialog", "menu", "menubar", "toolbar", "button", "figure", "img", "tablist",
                        "doc-endnotes", "doc-footnote", "doc-noteref", "doc-backlink"})
DROP_ITEMPROPS = frozenset({"author", "publisher", "image", "video", "comment", "keywords", "datePublished",
                            "dateModified", "breadcrumb", "associatedMedia"})

# class / id tokens (split on "-", "_", spaces and camelCase) that mark page furniture.
NOISE_TOKENS = frozenset({
    # navigation and page chrome
    "nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs", "footer", "masthead",
    "sidebar", "skip", "skiplink", "toolbar", "pagination", "pager",
    # sharing and social
    "share", "sharing", "sharebar", "social", "socials", "sociaux", "partage", "partager", "addthis",
    "sharethis", "follow", "suivre",
    # ads
    "ad", "ads", "advert", "advertisement", "adslot", "adunit", "dfp", "gpt", "pub", "publicite", "publicité",
    "sponsor", "sponsored", "sponsorise", "outbrain", "taboola", "ligatus", "teads", "banner", "banniere",
    "promo", "promotion", "partner", "partenaire", "partenaires", "commercial", "marketing", "affiliate",
    # related / recirculation
    "related", "connexe", "connexes", "recommended", "recommendation", "recommendations", "recirculation",
    "mostread", "most", "popular", "populaires", "trending", "teaser", "teasers", "lireaussi", "readmore",
    "readalso", "see", "voir", "next", "prev", "previous", "suivant", "precedent", "outstream", "catcher",
    "rebond", "rebonds", "services", "also", "aussi", "more", "plus", "latest", "recent", "derniers",
    # subscription, newsletter, paywall
    "newsletter", "newsletters", "subscribe", "subscription", "abonnement", "abonnez", "abo", "paywall",
    "register", "inscription", "login", "signin", "offer", "offre", "cta",
    # comments and consent
    "comment", "comments", "commentaires", "reactions", "disqus", "respond", "cookie", "cookies", "consent",
    "gdpr", "rgpd", "didomi", "cmp", "tarteaucitron", "onetrust", "notice", "modal", "popup", "overlay",
    # media and captions
    "caption", "legend", "legende", "légende", "credit", "credits", "crédit", "copyright", "photo", "photos",
    "gallery", "galerie", "diaporama", "slideshow", "carousel", "embed", "video", "player", "podcast",
    "image", "img", "figure", "thumbnail", "thumb", "visuel", "illustration", "tweet", "twitter", "instagram",
    "facebook", "youtube", "dailymotion",
    # listen widgets (ReadSpeaker and friends)
    "readspeaker", "rsbtn", "rs", "listen", "ecouter", "écouter", "audio", "tts",
    # meta lines that the extractor reads separately
    "byline", "author", "authors", "auteur", "auteurs", "signature", "dateline", "date", "time", "timestamp",
    "meta", "metadata", "published", "updated", "readtime",
    # tags and topics
    "tags", "tag", "keywords", "topics", "topic", "mots", "motscles", "themes", "thematiques", "categories",
    "category", "rubrique", "kicker", "surtitre", "overline", "badge",
    # misc
    "print", "imprimer", "toolbox", "tools", "actions", "bookmark", "favoris", "alert", "alerte", "bandeau",
    "sr", "screen", "visually", "offscreen", "noprint", "trust", "trustproject",
    "rating", "vote", "poll", "sondage", "quiz", "jobs", "emploi", "weather", "meteo", "horoscope", "ticker",
    "sticky", "floating", "toc", "sommaire", "pullquote", "exergue", "citation-exergue",
    # footnotes: dropped rather than read out of place (their calls go too: tree.drop_footnote_marks)
    "footnotes", "footnote", "endnotes", "notes", "spip_notes",
})
# Whole class names that hide an element (utility classes of CSS frameworks and CMSs).
HIDDEN_CLASSES = frozenset({"hidden", "hide", "is-hidden", "u-hidden", "d-none", "invisible", "sr-only",
                            "visually-hidden", "visuallyhidden", "screen-reader-text", "screen-reader-only",
                            "element-invisible", "offscreen", "a11y-hidden", "hidden-print"})
# Inline elements: inside running text a "tag" or "date" class marks a link or a word, not a widget.
INLINE_TAGS = frozenset({"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
                         "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var"})
# Whole class names that are furniture although their words are not ("widget" alone is a WordPress sidebar box;
# page builders use "elementor-widget" for everything, text included; "label" alone is a kicker, but Drupal puts
# "field--label-hidden" on every field, the body and the chapô included).
NOISE_CLASSES = frozenset({"widget", "widgets", "sidebar-widget", "label", "article-label", "post-label"})
# class / id substrings that mark furniture even when glued to other words ("sharebar", "rs_skip").
NOISE_SUBSTRINGS = (
    "rs_skip", "rs_preserve", "readspeaker", "rsbtn", "share", "social", "newsletter", "paywall", "cookie",
    "consent", "comment", "related", "outbrain", "taboola", "advert", "sponsor", "breadcrumb", "lire-aussi",
    "lireaussi", "lire_aussi", "read-also", "most-read", "mostread", "trust-project", "trustproject",
    "screen-reader", "visually-hidden", "sr-only", "pullquote", "pull-quote", "subscribe", "abonne",
    "recommend", "teaser", "promo", "dfp-", "ad-slot", "adslot", "ad-container", "ad_container", "ads-",
    "-ads", "_ads", "pub-", "-pub", "tags-list", "taglist", "tag-list", "article-tags", "post-tags",
    "entry-tags", "entry-meta", "post-meta", "article-meta", "article__meta", "caption", "credit", "legend",
    "legende", "wp-block-embed", "twitter-tweet", "twitter-timeline", "instagram-media", "tiktok-embed", "bluesky-embed", "fb-post",
    "fb-video", "fb-page", "threads-post", "mastodon-embed", "video-container",
    "widget_", "widget-area", "widgets-area", "sidebar-widget", "media-credit",
    "jp-relatedposts", "sharedaddy", "addtoany", "wpcnt", "wp-block-image", "wp-caption", "gallery",
    "spip_doc", "spip_documents",
)
# Class tokens that mean "this is the article text" and protect an element from the noise rules
# (e.g. `<div class="article-body has-ads">`).
CONTENT_TOKENS = frozenset({
    "articlebody", "article-body", "article__body", "article__content", "article-content", "entry-content",
    "post-content", "post-body", "story-body", "story-content", "content-body", "body-text", "article-text",
    "article__text", "texte", "corps", "paywall-content",
})
# Classes that hold the standfirst (chapô) rather than body text.
STANDFIRST_PATTERN = re.compile(
    r"(^|[\s_-])(chapo|chapeau|chapô|standfirst|stand-first|article__desc|article-desc|lead|leadin|lede|"
    r"intro|introduction|subheadline|sub-headline|subtitle|sous-titre|soustitre|deck|dek|excerpt|"
    r"entry-summary|summary|accroche|article__chapo|article-chapo|description|headline-subheadline|"
    r"a-lead|article-lead|article__lead|post-excerpt|resume|subhead|bajada|chapeau-article)([\s_-]|$)",
    re.IGNORECASE,
)
# Hidden by inline style.
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|(^|;)\s*opacity\s*:\s*0(\.0+)?\s*(;|$)",
                          re.IGNORECASE)

# --- text lines ---------------------------------------------------------------------------------------------
# Photo and wire agencies (captions end with them, credits are made of them).
CREDIT_AGENCIES = (
    "AFP", "AP", "Reuters", "REUTERS", "Getty", "GETTY", "Getty Images", "AFP PHOTO", "EPA", "EFE", "ANSA",
    "dpa", "DPA", "Sipa", "SIPA", "Sipa Press", "Maxppp", "MAXPPP", "Abaca", "ABACA", "ABACAPRESS",
    "Hans Lucas", "Hans Lucas via AFP", "Bestimage", "Belga", "Keystone", "Xinhua", "Spoutnik", "Sputnik",
    "TASS", "Anadolu", "NurPhoto", "SOPA Images", "Shutterstock", "iStock", "Alamy", "Unsplash", "Pixabay",
    "Wikimedia Commons", "AP Photo", "Pool", "POOL", "PISCINE", "Leemage", "Divergence", "Le Parisien",
    "Ouest-France", "Le Monde", "Reuters/", "Photononstop", "Andia", "Gamma", "Gamma-Rapho", "Hemis", "Yonhap",
    "KCNA", "KCNA via REUTERS", "Kremlin", "Handout", "HANDOUT", "DR", "D.R.", "Capture d'écran",
    "Capture d’écran", "Service de presse", "Courtesy",
)

# Whole short lines that are furniture (matched with fullmatch on the folded line).
FURNITURE_LINES = tuple(re.compile(p, re.IGNORECASE) for p in (
    # listen widgets
    r"(entendre|écouter|ecouter)( cet article| l['’]article| ce texte)?( \(?\d+ ?(min|minutes?)\)?)?",
    r"(écoutez|ecoutez)( cet article| l['’]article)?.{0,40}",
    r"(lecture|lire) (audio|à voix haute)", r"listen( to (this|the) article)?", r"play",
    r"pause", r"(écouter|ecouter) avec readspeaker", r"readspeaker.{0,60}",
    r"(durée|temps) de lecture ?: ?\d+ ?(min|minutes?)\.?", r"\d+ ?min(utes?)? de lecture\.?",
    # ads and promotion
    r"publicité", r"publicite", r"advertisement", r"annonce", r"sponsorisé", r"contenu sponsorisé",
    r"contenu (proposé|réalisé) par .{1,60}", r"article sponsorisé", r"partenariat",
    # related
    r"(à |a )?lire (aussi|également|egalement|encore|la suite|plus)( ?[:|>»-].*)?",
    r"(à |a )?voir (aussi|également|egalement)( ?[:|>»-].*)?",
    r"(à |a )?(découvrir|decouvrir|écouter|ecouter|regarder) (aussi|également|egalement)( ?[:|>»-].*)?",
    (r"(sur le même sujet|sur le meme sujet|dans la même rubrique|les plus lus|articles? les plus lus|"
    r"les plus partagés|à la une|a la une|nos derniers articles|dernières actualités|en continu|"
    r"articles? (liés|similaires|connexes|recommandés)|vous aimerez aussi|vous aimerez peut-être aussi|"
    r"recommandé pour vous|nos recommandations|les articles? de la rubrique.*|plus d['’]articles?.*|"
    r"dans l['’]actualité|ailleurs sur le web|sélectionné pour vous|read more|related( articles| stories)?|"
    r"lire l['’]article|voir l['’]article|découvrez aussi.*|liens? (externes?|utiles?|connexes?))\s*:?"),
    r"(next|suivant|précédent|precedent|article suivant|article précédent)\s*[:>»]?",
    r"(à suivre|a suivre)\s*:?",
    # sharing and tools
    r"(partager|partagez|share)( (sur|on) .{1,30}| cet article| l['’]article| par e-?mail)?\s*:?",
    (r"(facebook|twitter|x|linkedin|whatsapp|messenger|e-?mail|copier le lien|imprimer|envoyer|"
    r"pinterest|telegram|bluesky|threads|flipboard|reddit)( ?[,·|•] ?(facebook|twitter|x|linkedin|"
    r"whatsapp|messenger|e-?mail|copier le lien|imprimer|envoyer|pinterest|telegram|bluesky|threads))*"),
    r"(télécharger|téléchargez|installez) (l['’]application|notre application|l['’]appli).{0,80}",
    (r"retrouvez(-nous| toute l['’]actualité| l['’]actualité)? .{0,100}sur (facebook|twitter|instagram|google|x|"
    r"whatsapp|tiktok|youtube|linkedin|notre application|l['’]application).{0,40}"),
    r"(en savoir plus|lire plus tard|écouter plus tard|lire la suite|voir la suite|recevoir les alertes)\s*:?",
    r"(vous avez aimé|cet article vous a plu|vous avez apprécié|votre avis nous intéresse).{0,80}",
    r"(contenus? sponsorisés?|sélectionné pour vous|nos partenaires|en partenariat avec .{1,60})",
    r"(copier|copié|copy)( le)? (lien|link)", r"(envoyer|transmettre) (à|a) un ami", r"version imprimable", r"lien copié", r"imprimer( l['’]article| cet article)?",
    r"(ajouter|sauvegarder|enregistrer) (à|a|aux|dans) (vos|mes|ma) (sélections?|favoris|liste).*",
    r"offrir (cet|l['’]) ?article.*", r"s['’]abonner", r"(je m['’]abonne|abonnez-vous).{0,80}",
    r"suivez(-nous| toute l['’]actualité| l['’]actualité| notre| nos| toute| en direct) .{0,120}", r"suivre (ce|cet|la|le) .{0,40}", r"signaler( un abus| une erreur)?.{0,40}",
    (r"(réagir|réagissez|commenter|commentaires?|\d+ commentaires?|voir les commentaires|"
    r"afficher les commentaires|les commentaires sont fermés.*)"),
    r"(tags?|mots[- ]clés|thèmes?|sujets?( associés)?|thématiques?|catégories?|rubriques?) ?:.*",
    r"newsletters?( .{0,80})?", r"inscrivez-vous.{0,120}", r"recevez .{0,80}newsletter.{0,60}",
    # paywall
    (r"(cet article est réservé aux abonnés|article réservé aux abonnés|réservé aux abonnés|"
    r"la suite (de cet article )?est réservée aux abonnés.*|il vous reste [\d.,]+ ?% de (cet|l['’]) ?article à lire.*|"
    r"vous pouvez lire .{1,40} sur un seul appareil.*|déjà abonné.*|abonnez-vous pour lire.*|"
    r"pour lire la suite.*|(article|contenu) premium|exclusivité abonnés|offre spéciale.*|"
    r"(profitez|bénéficiez) de .{0,80}(offre|abonnement).*|connectez-vous.{0,80}|se connecter|"
    r"essai gratuit.*|sans engagement.*|\d+[.,]?\d* ?€ ?(/|par) ?mois.*)"),
    # trust project and teaser furniture
    r"(apprenez à connaître|en savoir plus sur|découvrez) (le projet trust|the trust project|le trust project).*",
    r"(learn more about )?the trust project.*", r"(le )?projet trust.*", r"trust project",
    # date and meta lines read separately
    (r"(publié|publie|mis à jour|mis a jour|mis en ligne|modifié|actualisé|posted|updated|published)"
    r"( le| on| à| :|:) .{0,80}"),
    r"(le )?\d{1,2}(er)? \w+ \d{4}( à \d{1,2}(h|:)\d{0,2})?",
    r"(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) \d{1,2}(er)? \w+ \d{4}.{0,30}",
    r"\d{1,2}/\d{1,2}/\d{2,4}( (à )?\d{1,2}[h:]\d{2})?", r"\d{1,2}[h:]\d{2}",
    # navigation and misc
    r"(accueil|home)( ?[>›/»|].*)?", r"(retour|revenir) (en haut|à l['’]accueil|au début).*",
    r"(haut de page|menu|fermer|close|rechercher|search|connexion|se déconnecter|mon compte|s['’]inscrire)",
    r"(voir|afficher) (plus|moins|la vidéo|les photos|le diaporama|la galerie).*", (r"(vidéo|video|photo|photos|"
    r"diaporama|infographie|podcast)( ?[:|-] ?.{0,80})?"), r"lire la vidéo", r"cliquez ici.{0,80}",
    r"accepter( et fermer| tout| les cookies)?|refuser( tout)?|paramétrer( les cookies)?|tout accepter",
    r"(nous utilisons des cookies|ce site utilise des cookies|en poursuivant votre navigation).*",
    r"(cet? (contenu|article|vidéo) (est|n['’]est) .{0,60}(disponible|bloqué|accessible).*)",
    r"(activez|autorisez|acceptez) (le javascript|javascript|les cookies).*",
    r"(\(?avec )?(l['’])?(afp|reuters|ap|ansa)( (et|avec) [^.]{1,20})?\)?", r"\(avec (l['’])?(afp|reuters|ap|agences?).{0,30}\)",
    r"©.{0,120}", r"(crédits?|credits?|photo|photos|illustration|image) ?:.{0,120}",
    r"\(?(photo|photos|image|illustration|crédit) (d['’]illustration|afp|reuters|dr|d\.r\.).{0,80}\)?",
    r"-+|—+|–+|_+|\*+|=+|•+|·+|~+|#+",
    # the same furniture on English-language pages
    (r"(related (internet )?links|related topics|more on this story|top stories|most (read|popular|viewed)|"
    r"you (may|might) also like|recommended( for you| stories)?|trending( now)?|(more|recommended) from .{1,60}|"
    r"written by .{1,60}|about the author|share this( article| story)?|leave a (comment|reply)|"
    r"(tagged|filed under|topics)\s*:?.{0,120})\s*:?"),
    r"follow .{1,60} on (x|twitter|facebook|instagram|linkedin|threads|bluesky|tiktok|youtube).{0,160}",
    r"(send|email|share) (us )?your (story ideas|stories|news tips|tips|photos).{0,120}",
    r"(sign up|subscribe|register) (for|to) .{0,60}(newsletter|updates|alerts).{0,80}",
    r"published in .{1,80}", r"(\d+ )?comments?( \(\d+\))?", r"\d+ ?min(ute)?s? read",
    r"image (source|caption|copyright),?.{0,120}",
    (r"(jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|may|june?|july?|aug(ust)?|sep(t|tember)?|oct(ober)?|"
    r"nov(ember)?|dec(ember)?)\.? \d{1,2},? \d{4}.{0,20}"),
))

# Lines that are captions however long: "Sur cette photo ...", "Photo : ...".
CAPTION_OPENERS = re.compile(
    r"^(sur cette (photo|photographie|image|capture|vidéo|video|illustration|infographie|carte)|"
    r"sur (la|cette|une) (photo|image|photographie)|sur ces (photos|images)|"
    r"(photo|photographie|image|illustration|crédit photo|crédits photo|légende|capture d['’]écran) ?[:|-]|"
    r"(ci-dessus|ci-contre|en photo)\s*[,:])",
    re.IGNORECASE,
)

# Byline, translator and other credit lines (the first match goes to Article.byline / .translator).
BYLINE = re.compile(r"^([Pp]ar|PAR|[Bb]y|([Aa]rticle )?([Rr]édigé|[Éé]crit) par|[Pp]ropos recueillis par|"
                    r"[Dd]e notre (envoyée?|correspondante?)( spéciale?| permanente?)?( à [^,]{1,40})?,?)\s*:?\s+"
                    r"(?P<name>[A-ZÀ-ÖØ-Þ][^.!?]{1,120})$")
TRANSLATOR = re.compile(r"^(traduction|traduit( de l['’]\w+)?( par)?|adaptation|translated by)"
                        r"( de l['’]\w+)?( par| de| :)?\s+(?P<name>[A-ZÀ-ÖØ-Þ].{1,100})$", re.IGNORECASE)

# A credit glued to a caption's last word: "... de la Russie.GETTY", "... 2023.MIKHAIL METZEL – PISCINE",
# "... en Russie.Service de presse du ministère russe de la Défense", "... ce mardi.REUTERS/Jane Doe".
GLUED_CREDIT = re.compile(r"[a-zà-ÿ0-9)»”\"'’]\.(?P<credit>[A-ZÀ-ÖØ-Þ][^.!?]{1,100})$")
# A caption ending with a photographer / agency credit: "... le 3 mai. LUDOVIC MARIN / AFP", "(Photo AFP)".
TRAILING_CREDIT = re.compile(
    r"((^|[.!?»]\s+)[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ'’ .-]{2,60}\s*[/–]\s*[A-Za-zÀ-ÿ ]{2,40}|"
    r"\((?i:photo|crédit|credit|illustration|image)[^)]{0,80}\)|©\s?[^.]{1,80})$"
)

# Contact and follow-me lines under an article ("Email the writer at …", "Suivez-la sur X @…", "Have a tip? … may
# be reached at …"): an e-mail address, or a follow / contact verb with a network or a handle. Matched with search
# on blocks of at most CONTACT_MAX_WORDS words; a tweet's own attribution ("— Name (@handle) May 2, 2024") is not one.
CONTACT_MAX_WORDS = 60
CONTACT = re.compile(
    r"[\w.+-]+@[\w-]+(\.[\w-]+)*\.[a-z]{2,}\b|"
    r"\b(follow|suivez|suivre|retrouvez)\b.{0,60}?(\b(on|sur|at)\s+(twitter|x|facebook|instagram|linkedin|threads|"
    r"bluesky|mastodon|tiktok|youtube)\b|@\w{2,})|"
    r"\b(reach|contact|contactez|joindre|écrivez|write to)\b.{0,60}?\b(on twitter|sur twitter|sur x)\b",
    re.IGNORECASE)
CONTACT_HINTS = ("@", "follow", "suiv", "retrouvez", "reach", "contact", "joindre", "écrivez", "write to")  # cheap
TWEET_SIGNATURE = re.compile(r"[—–-]\s*[^—–]{1,80}\(@\w+\)\s+\w+\.?\s+\d{1,2},?\s+\d{4}")

# Upper-case prefixes that glue a teaser title: "NEXT Les experts ...".
TEASER_PREFIX = re.compile(r"^(NEXT|PREV|PRÉCÉDENT|PRECEDENT|SUIVANT|À LIRE|A LIRE|LIRE AUSSI|VIDÉO|VIDEO|"
                           r"PODCAST|DIAPORAMA|EN IMAGES|INFOGRAPHIE|DIRECT|LIVE|REPLAY)\b\s*[:|-]?\s*\S")

# Separator between a page title and the site name in <title>.
TITLE_SEPARATORS = re.compile(r"\s+[|–—·»-]\s+|\s+::\s+")  # not " : ", which French titles use

# --- paywalls -----------------------------------------------------------------------------------------------
# Notices that say the text stops here for non-subscribers (French and international sites). Matched on a block
# or on the page's text; a complete article's "Abonnez-vous" box does not match (it says nothing is cut).
PAYWALL_NOTICES = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"il vous reste [\d.,]+\s?%\s*(de cet article)?\s*à (lire|découvrir)",
    r"(la suite|le reste) (de cet article |de l['’]article )?est réservée? (à nos|aux) abonnés",
    r"pour (lire|consulter|découvrir) la suite( de cet article| de l['’]article)?,? (abonnez-vous|inscrivez-vous|connectez-vous)",
    r"(lire|découvrir) la suite (de l['’]article )?pour \d",
    r"abonnez-vous pour (lire|continuer|accéder)",
    r"(this|the rest of this) (article|story) is (for|available to|reserved for) (subscribers|members)",
    r"subscribe (now )?to (continue|keep) reading",
    r"(you have|there are) \d+ (free )?articles? (left|remaining)",
    r"dieser (artikel|beitrag) ist (nur )?für abonnenten",
))
# Badges that mark a subscribers' article: a truncation only with a notice above, or as the text's last words.
PAYWALL_LABELS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"(cet |l['’])?article (est )?réservé aux abonnés",
    r"(contenu|article|réservé) (exclusivement )?(réservé )?aux (abonnés|membres)",
))
