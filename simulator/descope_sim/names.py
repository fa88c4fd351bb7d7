"""Name, tenant and domain data for the simulated world (many scripts on purpose).

Each script maps to ``(given names, family names, family_first)``; every name is a
``(native, romanized)`` pair so e-mail handles stay ASCII while display names do not.
"""

from __future__ import annotations

Pair = tuple[str, str]

SCRIPTS: dict[str, tuple[list[Pair], list[Pair], bool]] = {
    "latin": (
        [
            ("José", "jose"),
            ("François", "francois"),
            ("Zoë", "zoe"),
            ("Søren", "soren"),
            ("Łukasz", "lukasz"),
            ("Ángel", "angel"),
            ("Chloé", "chloe"),
            ("Jürgen", "jurgen"),
            ("Mårten", "marten"),
            ("İbrahim", "ibrahim"),
            ("Noémie", "noemie"),
            ("Siobhán", "siobhan"),
            ("John", "john"),
            ("Mary", "mary"),
            ("Emma", "emma"),
            ("Liam", "liam"),
            ("Olivia", "olivia"),
            ("Lucas", "lucas"),
            ("Ana", "ana"),
            ("Pedro", "pedro"),
            ("Aoife", "aoife"),
            ("Björn", "bjorn"),
        ],
        [
            ("García", "garcia"),
            ("Müller", "muller"),
            ("Dubois", "dubois"),
            ("Núñez", "nunez"),
            ("Smith", "smith"),
            ("O'Brien", "obrien"),
            ("Kowalski", "kowalski"),
            ("Østergaard", "ostergaard"),
            ("Nguyễn", "nguyen"),
            ("Çelik", "celik"),
            ("van der Berg", "vanderberg"),
            ("Dvořák", "dvorak"),
            ("Johnson", "johnson"),
            ("Rossi", "rossi"),
            ("Silva", "silva"),
            ("Łęcka", "lecka"),
        ],
        False,
    ),
    "cyrillic": (
        [
            ("Иван", "ivan"),
            ("Ольга", "olga"),
            ("Дмитрий", "dmitry"),
            ("Наталья", "natalya"),
            ("Алексей", "alexey"),
            ("Юлия", "yulia"),
        ],
        [
            ("Иванов", "ivanov"),
            ("Смирнова", "smirnova"),
            ("Кузнецов", "kuznetsov"),
            ("Попова", "popova"),
            ("Соколов", "sokolov"),
        ],
        False,
    ),
    "greek": (
        [("Γιώργος", "giorgos"), ("Μαρία", "maria"), ("Νίκος", "nikos"), ("Ελένη", "eleni")],
        [("Παπαδόπουλος", "papadopoulos"), ("Κωνσταντίνου", "konstantinou"), ("Γεωργίου", "georgiou")],
        False,
    ),
    "arabic": (
        [("محمد", "mohammed"), ("فاطمة", "fatima"), ("أحمد", "ahmed"), ("ليلى", "layla")],
        [("العلي", "alali"), ("حسن", "hassan"), ("الخطيب", "alkhatib")],
        False,
    ),
    "hebrew": (
        [("דוד", "david"), ("שרה", "sarah"), ("יוסי", "yossi"), ("מיכל", "michal")],
        [("כהן", "cohen"), ("לוי", "levi"), ("מזרחי", "mizrahi")],
        False,
    ),
    "devanagari": (
        [("अर्जुन", "arjun"), ("प्रिया", "priya"), ("राहुल", "rahul"), ("अनीता", "anita")],
        [("शर्मा", "sharma"), ("वर्मा", "verma"), ("गुप्ता", "gupta")],
        False,
    ),
    "chinese": (
        [("伟", "wei"), ("芳", "fang"), ("秀英", "xiuying"), ("磊", "lei"), ("静", "jing")],
        [("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu")],
        True,
    ),
    "japanese": (
        [("翔太", "shota"), ("さくら", "sakura"), ("健", "ken"), ("陽菜", "hina")],
        [("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi")],
        True,
    ),
    "thai": (
        [("สมชาย", "somchai"), ("สุดา", "suda"), ("ณัฐ", "nat")],
        [("ใจดี", "jaidee"), ("ศรีสุข", "srisuk"), ("วงศ์ทอง", "wongthong")],
        False,
    ),
    "korean": (
        [("민준", "minjun"), ("서연", "seoyeon"), ("지우", "jiwoo")],
        [("김", "kim"), ("이", "lee"), ("박", "park")],
        True,
    ),
}

SCRIPT_WEIGHTS: dict[str, int] = {
    "latin": 55,
    "cyrillic": 7,
    "greek": 3,
    "arabic": 5,
    "hebrew": 3,
    "devanagari": 7,
    "chinese": 7,
    "japanese": 4,
    "thai": 3,
    "korean": 6,
}

PUBLIC_DOMAINS = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.co.uk",
    "mail.ru",
    "yandex.ru",
    "naver.com",
    "qq.com",
    "web.de",
    "icloud.com",
    "proton.me",
    "example.org",
]

# (name, e-mail domain)
TENANTS: list[tuple[str, str]] = [
    ("Acme Corp", "acme.io"),
    ("Globex", "globex.com"),
    ("Initech", "initech.com"),
    ("Umbrella GmbH", "umbrella.de"),
    ("Stark Industries", "stark.com"),
    ("Wayne Enterprises", "wayne.com"),
    ("Müller & Söhne AG", "mueller-soehne.de"),
    ("株式会社サンプル", "sample.co.jp"),
    ("Soylent", "soylent.com"),
    ("Tyrell Corporation", "tyrell.ai"),
]

TENANT_ROLES: dict[str, list[str]] = {
    "Tenant Admin": ["users:write", "users:read", "billing:read"],
    "Member": ["users:read"],
    "Viewer": ["reports:read"],
    "Billing": ["billing:read", "billing:write"],
}

PROJECT_ROLES = ["admin", "editor", "viewer", "billing", "support"]
PROJECT_PERMISSIONS = ["impersonate", "export", "audit:read", "sso:manage"]
PLANS = ["free", "starter", "pro", "enterprise"]
DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Support", "Finance", "R&D", "Ventes", "Продажи"]
SIGNUP_SOURCES = ["web", "ios", "android", "invite", "sso", "import"]
OAUTH_PROVIDERS = ["google", "github", "apple", "microsoft", "facebook"]
REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2", "sa-east-1"]
PHONE_PREFIXES = ["+1", "+44", "+49", "+33", "+972", "+91", "+81", "+82", "+7", "+55"]
