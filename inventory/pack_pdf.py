"""The evidence pack's human-readable PDF, drawn with ReportLab's page layout (platypus).

ReportLab is pure Python: no system libraries to install or keep patched beside the service.
Text is escaped before it reaches a Paragraph (which reads a small markup language), and long
unbroken values (hashes, URIs) wrap anywhere so no table runs off the page.
"""

import io
import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from inventory.evidence_pack import EvidencePack
from inventory.models import CARD_SECTIONS

# DejaVu covers far more than Latin-1 (names, comments in any script); Helvetica is the fallback.
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
EVENTS_SHOWN_MAX = 500
ENTRIES_SHOWN_MAX = 200


def _font() -> str:
    if "DejaVuSans" in pdfmetrics.getRegisteredFontNames():
        return "DejaVuSans"
    if _DEJAVU.is_file():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(_DEJAVU)))
        return "DejaVuSans"
    return "Helvetica"


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=font, fontSize=9, leading=11.5)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=font, fontSize=17),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], fontName=font, fontSize=12.5, spaceBefore=8),
        "h3": ParagraphStyle("h3", parent=base["Heading3"], fontName=font, fontSize=10.5),
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9.5, wordWrap="CJK"),
        "note": ParagraphStyle("note", parent=body, textColor=colors.HexColor("#555555")),
    }


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return escape(str(value)).replace("\n", "<br/>")


class _Doc:
    def __init__(self) -> None:
        self.styles = _styles()
        self.flow: list[Any] = []

    def para(self, text: Any, style: str = "body") -> None:
        self.flow.append(Paragraph(_text(text), self.styles[style]))

    def heading(self, text: str, level: str = "h2") -> None:
        self.flow.append(Paragraph(escape(text), self.styles[level]))

    def facts(self, rows: list[tuple[str, Any]]) -> None:
        self.table(None, rows, widths=[45 * mm, 130 * mm])

    def table(self, header: list[str] | None, rows: list[Any], widths: list[float] | None = None) -> None:
        """A grid of wrapped cells; `header` (None: none) repeats on each page the table spans."""
        cell = self.styles["cell"]
        data = [[Paragraph(_text(v), cell) for v in row] for row in rows]
        if not data:
            self.para("(none)", "note")
            return
        if header:
            data.insert(0, [Paragraph(f"<b>{escape(h)}</b>", cell) for h in header])
        table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
        style = [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#999999")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8edf3")))
        table.setStyle(TableStyle(style))
        self.flow.append(table)
        self.flow.append(Spacer(1, 3 * mm))


def evidence_pack_pdf(pack: EvidencePack) -> bytes:
    """The pack for people: one PDF, section by section, in the order the zip's files list them."""
    doc = _Doc()
    doc.heading(f"Evidence pack: {pack.model} version {pack.version}", "title")
    doc.facts(
        [
            ("Generated", f"{pack.generated_at} by {pack.generated_by}"),
            ("Artifact digest", pack.artifact_digest),
            ("Stage / status", f"{pack.version_facts.get('stage')} / {pack.version_facts.get('status')}"),
            ("Author", pack.version_facts.get("creator")),
            ("Source", pack.version_facts.get("source")),
            ("Run", pack.version_facts.get("run_id")),
        ]
    )
    for note in pack.notes:
        doc.para(note, "note")

    doc.heading("Inventory")
    inv = pack.inventory
    doc.facts(
        [
            ("Risk tier", inv.get("risk_tier")),
            ("Lifecycle status", inv.get("lifecycle_status")),
            ("Intended use", inv.get("intended_use")),
            ("Business owner", inv.get("business_owner")),
            ("Developer", inv.get("developer")),
            ("Third party", "yes" if inv.get("third_party") else "no"),
            ("Regulatory tags", ", ".join(inv.get("regulatory_tags") or [])),
        ]
    )

    doc.heading("Model card")
    card = pack.card
    if card is None:
        doc.para("This version has no model card.", "note")
    else:
        doc.facts(
            [
                ("State", card["state"]),
                ("Author", card["author"]),
                ("Approved by", card["approved_by"]),
                ("Approved at", card["approved_at"]),
                ("Approved for digest", card["approved_digest"]),
            ]
        )
        for section in CARD_SECTIONS:
            doc.heading(section.replace("_", " ").capitalize(), "h3")
            doc.para(card.get(section) or "(empty)")

    doc.heading("Independent validations")
    if not pack.validations:
        doc.para("No validation was recorded.", "note")
    for v in pack.validations:
        doc.facts(
            [
                ("Validation", f"#{v['id']} by {v['validator']} on {v['validated_on']}"),
                ("Outcome", v["outcome"]),
                ("Risk tier then", v["risk_tier"]),
                ("Next review", v["next_review_on"]),
                ("Scope", v["scope"]),
                ("Conditions of use", v["conditions"]),
            ]
        )
        if v["findings"]:
            doc.table(
                ["Severity", "Finding", "Remediation"],
                [(f["severity"], f["description"], f["remediation_status"]) for f in v["findings"]],
                widths=[22 * mm, 118 * mm, 35 * mm],
            )

    doc.heading("Transition requests and approvals")
    if not pack.requests:
        doc.para("No transition request was filed for this version.", "note")
    for r in pack.requests:
        doc.facts(
            [
                ("Request", f"#{r['id']}: {r['from_stage']} -> {r['target']} ({r['state']})"),
                ("Requested by", f"{r['requester']} at {r['created_at']}"),
                ("Reason", r["reason"]),
                ("Decided", r["decided_at"]),
            ]
        )
        doc.table(
            ["Approver", "Approved at", "Comment", "Artifact digest"],
            [(a["approver"], a["approved_at"], a["comment"], a["artifact_digest"]) for a in r["approvals"]],
            widths=[30 * mm, 38 * mm, 62 * mm, 45 * mm],
        )
        for signature in r["signatures"]:
            doc.para(f"Signed ({signature['decision']}): {_signature_line(signature)}")

    doc.heading("Attestations")
    doc.table(
        ["Kind", "Created", "Subject digest", "Key id", "Request"],
        [
            (a["kind"], a["created_at"], a["subject_digest"], a["key_id"], a["request_id"])
            for a in pack.attestations
        ],
        widths=[22 * mm, 35 * mm, 70 * mm, 30 * mm, 18 * mm],
    )

    doc.heading("Artifact manifest")
    manifest = pack.manifest
    if manifest is None:
        doc.para("The version's artifacts were never validated.", "note")
    else:
        doc.facts(
            [
                ("State", manifest["state"]),
                ("Digest", manifest["digest"]),
                ("Files", f"{manifest['object_count']} ({manifest['total_bytes']} bytes)"),
                ("Validated at", manifest["validated_at"]),
                ("Governed copy", manifest["governed_location"]),
            ]
        )
        entries = manifest["entries"]
        doc.table(
            ["Path", "Size", "SHA-256"],
            [(e["path"], e["size"], e["sha256"]) for e in entries[:ENTRIES_SHOWN_MAX]],
            widths=[70 * mm, 20 * mm, 85 * mm],
        )
        if len(entries) > ENTRIES_SHOWN_MAX:
            doc.para(f"... and {len(entries) - ENTRIES_SHOWN_MAX} more in artifact-manifest.json.", "note")

    doc.heading("Audit trail and chain proof")
    checkpoint = pack.checkpoint
    if checkpoint:
        doc.facts(
            [
                (
                    "Covering checkpoint",
                    f"#{checkpoint['id']}: seq {checkpoint['seq']} at {checkpoint['created_at']}",
                ),
                ("Signed head hash", checkpoint["hash"]),
                ("Signature", f"{checkpoint['algorithm']}, key {checkpoint['key_id']}"),
                ("Verify", "python -m audit.offline_verify chain-proof.jsonl --keys KEYS.json"),
            ]
        )
    else:
        doc.para("The covering checkpoint and the chain proof are in an auditor's pack.", "note")
    doc.table(
        ["Seq", "Time", "Actor", "Action", "Hash"],
        [
            (e["seq"], e["timestamp"], e["actor_username"] or e["actor_kind"], e["action"], e["hash"])
            for e in pack.events[:EVENTS_SHOWN_MAX]
        ],
        widths=[12 * mm, 38 * mm, 28 * mm, 42 * mm, 55 * mm],
    )
    if len(pack.events) > EVENTS_SHOWN_MAX:
        doc.para(f"... and {len(pack.events) - EVENTS_SHOWN_MAX} more in audit-events.jsonl.", "note")

    footer = f"Quorum evidence pack: {pack.model} v{pack.version}, generated {pack.generated_at}"

    def page_footer(canvas: Any, document: Any) -> None:
        # Printed pages stay attributable and in order once they leave the zip.
        canvas.saveState()
        canvas.setFont(doc.styles["note"].fontName, 7)
        canvas.drawString(17 * mm, 9 * mm, footer)
        canvas.drawRightString(A4[0] - 17 * mm, 9 * mm, f"page {document.page}")
        canvas.restoreState()

    out = io.BytesIO()
    SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=17 * mm,
        rightMargin=17 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"Evidence pack: {pack.model} v{pack.version}",
        author="Quorum",
    ).build(doc.flow, onFirstPage=page_footer, onLaterPages=page_footer)
    return out.getvalue()


def _signature_line(signature: dict[str, Any]) -> str:
    """One signature as a line of the approvals table: the signer's printed line, and its state."""
    line = f"{signature['line']} ({signature['authentication']}; record {signature['record_hash'][:16]})"
    return line if signature["intact"] else f"{line} - DOES NOT VERIFY: its record was altered"
