"""The simulator's numbers: Retell's documented limits and defaults, and the caps we chose."""

MAX_BODY_BYTES = 1_000_000  # a request body past this is refused (400) after being drained
DRAIN_LIMIT_BYTES = 64_000_000  # past this we stop reading and close the connection
MAX_STRING_CHARS = 100_000  # any string in a request body (a long prompt fits, a megabyte does not)
MAX_JSON_DEPTH = 64
MAX_REPLY_READ = 1_000_000  # bytes read from a webhook / tool reply
TOOL_RESULT_CHARS = 15_000  # Retell caps what a custom function returns to the LLM
WEBHOOK_RETRIES = 3  # "retried up to 3 times" (inbound webhook and call event webhooks)
DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000
DEFAULT_TOOL_TIMEOUT_MS = 120_000  # "2 minutes if not specified"
DEFAULT_WEBHOOK_EVENTS = ("call_started", "call_ended", "call_analyzed")
TRANSFER_LEG_MS = 45_000  # how long caller and staff talk after a bridged transfer
LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT = 50, 1000
IDEMPOTENCY_MS = 3_600_000  # create-phone-call's idempotency_key holds for an hour
# Knowledge bases (docs.retellai.com/build/knowledge-base, "Limitations"; the SDK's docstrings)
KB_NAME_MAX_CHARS = 39  # "Must be less than 40 characters"
KB_MAX_TEXTS, KB_MAX_URLS, KB_MAX_FILES = 50, 500, 25  # per knowledge base
KB_TEXT_MAX_CHARS = MAX_STRING_CHARS  # ours: Retell documents no bound for one text
KB_TITLE_MAX_CHARS = 200  # ours
KB_FILENAME_MAX_CHARS = 255  # ours
KB_DEFAULT_MAX_CHUNK, KB_DEFAULT_MIN_CHUNK = 2000, 400
KB_FILE_TYPES = frozenset(  # the document formats Retell lists (and .jpg)
    ".bmp .csv .doc .docx .eml .epub .heic .html .jpeg .jpg .png .md .msg .odt .org .p7s .pdf .ppt .pptx .rst "
    ".rtf .tiff .txt .tsv .xls .xlsx .xml".split())
MULTIPART_MAX_PARTS = 200  # ours: a form past this many parts is refused
MULTIPART_MAX_HEADER_BYTES = 8192  # ours: one part's headers
