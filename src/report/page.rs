//! One shape for every HTML page Turnstile writes (the drift report, inspection evidence,
//! access review packs): a single file that works offline, with no external assets, a
//! small inline script that makes each table sortable, filterable and searchable (paged,
//! so 100,000 rows stay quick), readable at 700 px and printable.
//!
//! Everything from inputs is escaped: text placed in the page goes through [`escape`], and
//! table data is JSON with `<`, `>` and `&` written as `\u` escapes, put into the page by
//! the script with `textContent` only.

use serde::Serialize;
use std::fmt::Write as _;

/// Text escaped for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script type="application/json">`: no `<`, `>` or `&` in it, so no
/// input can close the script or open a tag.
pub fn json_for_script(value: &impl Serialize) -> Result<String, String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// How a column sorts and shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    /// Sorted as a number.
    Number,
    /// high, medium, low: sorted by rank, coloured.
    Severity,
    /// Monospace (ids, hashes).
    Code,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub label: String,
    pub kind: Kind,
    /// Offer a drop-down of this column's values.
    pub filter: bool,
}

impl Column {
    pub fn new(label: &str, kind: Kind, filter: bool) -> Column {
        Column {
            label: label.to_string(),
            kind,
            filter,
        }
    }
}

/// A table the page's script makes interactive.
#[derive(Debug, Serialize)]
pub struct Table {
    pub id: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    /// Rows per page (the print view shows every filtered row up to 10,000).
    pub page_size: usize,
}

impl Table {
    /// The container, its data and a fallback line for a reader without scripts.
    pub fn html(&self) -> Result<String, String> {
        let data = json_for_script(self)?;
        let id = escape(&self.id);
        Ok(format!(
            "<div class=\"dt\" id=\"{id}\" data-source=\"{id}-data\"><noscript><p>{} rows: this table needs JavaScript; the same rows are in the JSON and CSV outputs.</p></noscript></div>\n<script type=\"application/json\" id=\"{id}-data\">{data}</script>\n",
            self.rows.len()
        ))
    }
}

/// A headline number.
pub struct Card<'a> {
    pub label: &'a str,
    pub value: String,
    /// `high`, `medium`, `low`, `good` or `` for the colour.
    pub tone: &'a str,
}

pub fn cards(cards: &[Card<'_>]) -> String {
    let mut s = String::from("<div class=\"cards\">\n");
    for c in cards {
        let _ = writeln!(
            s,
            "<div class=\"card {}\"><div class=\"n\">{}</div><div class=\"l\">{}</div></div>",
            escape(c.tone),
            escape(&c.value),
            escape(c.label)
        );
    }
    s.push_str("</div>\n");
    s
}

/// A whole page: title, body (already HTML), the shared style and script.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>{STYLE}</style></head><body>\n{body}<script>{SCRIPT}</script>\n</body></html>\n",
        escape(title)
    )
}

const STYLE: &str = r#"
:root{--blue:#005eb8;--text:#212b32;--grey:#4c6272;--line:#d8dde0;--pale:#f0f4f5;--red:#d5281b;--amber:#ae6400;--green:#007f3b}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:0 auto;padding:1rem 1.5rem;max-width:1400px;color:var(--text);line-height:1.4}
h1{font-size:1.6rem;margin:.2rem 0 .4rem}h2{font-size:1.25rem;margin:1.6rem 0 .5rem;border-bottom:2px solid var(--blue);padding-bottom:.2rem}
.meta{color:var(--grey);margin:.2rem 0}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.card{flex:1 1 9rem;border:1px solid var(--line);border-left:6px solid var(--grey);padding:.5rem .7rem;background:#fff}
.card .n{font-size:1.6rem;font-weight:700}.card .l{color:var(--grey);font-size:.9rem}
.card.high{border-left-color:var(--red)}.card.medium{border-left-color:var(--amber)}.card.low{border-left-color:var(--blue)}.card.good{border-left-color:var(--green)}
.wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border-bottom:1px solid var(--line);padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:var(--pale);position:sticky;top:0}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.code{font-family:ui-monospace,Consolas,monospace;font-size:.85rem;word-break:break-all}
td.high{color:var(--red);font-weight:700}td.medium{color:var(--amber);font-weight:600}td.low{color:var(--grey)}
th button{all:unset;cursor:pointer;font-weight:700}th button:focus{outline:2px solid var(--blue)}
th[aria-sort=ascending] button::after{content:" \25B2"}th[aria-sort=descending] button::after{content:" \25BC"}
.controls{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin:.5rem 0}
.controls input,.controls select{font:inherit;padding:.25rem .4rem;border:1px solid var(--grey);max-width:100%}
.controls input[type=search]{flex:1 1 14rem}
.pager{display:flex;gap:.5rem;align-items:center;margin:.4rem 0;color:var(--grey)}
.pager button,.matrix button{font:inherit;cursor:pointer}
.matrix button{all:unset;cursor:pointer;color:var(--blue);text-decoration:underline}
details{border:1px solid var(--line);padding:.4rem .7rem;margin:.3rem 0}summary{cursor:pointer;font-weight:600}
.sev{font-size:.8rem;text-transform:uppercase;font-weight:700}
.sev.high{color:var(--red)}.sev.medium{color:var(--amber)}.sev.low{color:var(--grey)}
.note{background:var(--pale);padding:.5rem .7rem;border-left:4px solid var(--blue)}
@media (max-width:760px){body{padding:.5rem}th,td{padding:.25rem .3rem;font-size:.85rem}.card{flex-basis:7rem}}
@media print{.controls,.pager,noscript{display:none}body{max-width:none;padding:0}th{position:static}details{border:none}details>*{display:block}a{color:inherit}}
"#;

/// The script: each `.dt` container becomes a table with a search box, a drop-down per
/// filter column, sortable headers and pages. Values go in with `textContent`, never as
/// markup. `window.dtSet(id, column, value)` sets a drop-down (the drift matrix uses it).
const SCRIPT: &str = r#"
(function(){
"use strict";
var RANK={high:0,medium:1,low:2};
var tables={};
function el(tag,attrs,text){var e=document.createElement(tag);if(attrs){for(var k in attrs){e.setAttribute(k,attrs[k]);}}if(text!==undefined){e.textContent=text;}return e;}
function cmp(kind){return function(a,b){
 if(kind==="number"){var x=parseFloat(a),y=parseFloat(b);x=isNaN(x)?-Infinity:x;y=isNaN(y)?-Infinity:y;return x-y;}
 if(kind==="severity"){return (a in RANK?RANK[a]:9)-(b in RANK?RANK[b]:9);}
 return a<b?-1:a>b?1:0;};}
function setup(box){
 var src=document.getElementById(box.getAttribute("data-source"));
 var t=JSON.parse(src.textContent);
 var st={sort:-1,dir:1,q:"",f:{},page:0,size:t.page_size||100,all:false};
 var controls=el("div",{"class":"controls"});
 var search=el("input",{type:"search",placeholder:"Search",  "aria-label":"Search "+box.id});
 search.className="search";
 controls.appendChild(search);
 var selects=[];
 t.columns.forEach(function(c,i){
  if(!c.filter){return;}
  var vals={};t.rows.forEach(function(r){vals[r[i]]=1;});
  var s=el("select",{"aria-label":c.label,"data-col":String(i)});
  s.appendChild(el("option",{value:""},"All "+c.label.toLowerCase()));
  Object.keys(vals).sort(cmp(c.kind)).forEach(function(v){s.appendChild(el("option",{value:v},v===""?"(none)":v));});
  s.addEventListener("change",function(){if(s.value===""){delete st.f[i];}else{st.f[i]=s.value;}st.page=0;draw();});
  selects[i]=s;controls.appendChild(s);
 });
 var count=el("span",{"class":"count","aria-live":"polite"});
 controls.appendChild(count);
 var wrap=el("div",{"class":"wrap"});
 var table=el("table");var thead=el("thead");var hr=el("tr");
 t.columns.forEach(function(c,i){
  var th=el("th");if(c.kind==="number"){th.className="num";}
  var b=el("button",{type:"button"},c.label);
  b.addEventListener("click",function(){if(st.sort===i){st.dir=-st.dir;}else{st.sort=i;st.dir=1;}st.page=0;draw();});
  th.appendChild(b);hr.appendChild(th);
 });
 thead.appendChild(hr);table.appendChild(thead);
 var tbody=el("tbody");table.appendChild(tbody);wrap.appendChild(table);
 var pager=el("div",{"class":"pager"});
 var prev=el("button",{type:"button"},"Previous");var next=el("button",{type:"button"},"Next");var where=el("span");
 prev.addEventListener("click",function(){if(st.page>0){st.page--;draw();}});
 next.addEventListener("click",function(){st.page++;draw();});
 pager.appendChild(prev);pager.appendChild(where);pager.appendChild(next);
 box.appendChild(controls);box.appendChild(wrap);box.appendChild(pager);
 var timer=null;
 search.addEventListener("input",function(){clearTimeout(timer);timer=setTimeout(function(){st.q=search.value.trim().toLowerCase();st.page=0;draw();},120);});
 var lower=null;
 function draw(){
  var rows=t.rows;var keys=Object.keys(st.f);
  if(keys.length){rows=rows.filter(function(r){for(var k=0;k<keys.length;k++){if(r[keys[k]]!==st.f[keys[k]]){return false;}}return true;});}
  if(st.q){if(!lower){lower=new Map();t.rows.forEach(function(r){lower.set(r,r.join("\u0001").toLowerCase());});}
   var q=st.q;rows=rows.filter(function(r){return lower.get(r).indexOf(q)>=0;});}
  if(st.sort>=0){var i=st.sort,c=cmp(t.columns[i].kind),d=st.dir;
   rows=rows.map(function(r,n){return [r,n];});rows.sort(function(a,b){return c(a[0][i],b[0][i])*d||a[1]-b[1];});rows=rows.map(function(p){return p[0];});}
  t.columns.forEach(function(c,i){var th=hr.children[i];if(i===st.sort){th.setAttribute("aria-sort",st.dir>0?"ascending":"descending");}else{th.removeAttribute("aria-sort");}});
  var pages=Math.max(1,Math.ceil(rows.length/st.size));if(st.page>=pages){st.page=pages-1;}
  var from=st.all?0:st.page*st.size,to=st.all?Math.min(rows.length,10000):Math.min(rows.length,from+st.size);
  var frag=document.createDocumentFragment();
  for(var n=from;n<to;n++){var r=rows[n];var tr=el("tr");
   for(var k=0;k<t.columns.length;k++){var kind=t.columns[k].kind;var td=el("td",null,r[k]);
    if(kind==="number"){td.className="num";}else if(kind==="code"){td.className="code";}else if(kind==="severity"){td.className=r[k];}
    tr.appendChild(td);}
   frag.appendChild(tr);}
  tbody.textContent="";tbody.appendChild(frag);
  count.textContent=rows.length===t.rows.length?rows.length+" rows":rows.length+" of "+t.rows.length+" rows";
  where.textContent=rows.length?("Rows "+(from+1)+"\u2013"+to+" of "+rows.length):"No rows match";
  prev.disabled=st.all||st.page===0;next.disabled=st.all||to>=rows.length;
 }
 tables[box.id]={set:function(col,value){var s=selects[col];if(!s){return;}s.value=value;if(value===""){delete st.f[col];}else{st.f[col]=value;}st.page=0;draw();},
  print:function(on){st.all=on;draw();},draw:draw};
 draw();
}
var boxes=document.querySelectorAll(".dt");
for(var i=0;i<boxes.length;i++){setup(boxes[i]);}
window.dtSet=function(id,filters){var t=tables[id];if(!t){return;}Object.keys(filters).forEach(function(c){t.set(Number(c),filters[c]);});var box=document.getElementById(id);if(box&&box.scrollIntoView){box.scrollIntoView();}};
document.addEventListener("click",function(e){var b=e.target.closest?e.target.closest("[data-dt]"):null;if(!b){return;}var f=JSON.parse(b.getAttribute("data-filters"));window.dtSet(b.getAttribute("data-dt"),f);});
window.addEventListener("beforeprint",function(){Object.keys(tables).forEach(function(k){tables[k].print(true);});});
window.addEventListener("afterprint",function(){Object.keys(tables).forEach(function(k){tables[k].print(false);});});
})();
"#;
